"""The README is a contract: its set-up is two commands, its links lead somewhere, and the
commands of "Your first call" run as printed.

A newcomer copies these lines; when one of them stops working (a renamed option, a moved
file, a path the demo no longer writes) this test fails before they do.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_docs import broken_links

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PHONESIM = Path(sys.executable).with_name("phonesim")


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README: expected a section '## {title}'"
    return match.group(1)


def code_blocks(markdown: str) -> list[list[str]]:
    """The command lines of each fenced block (comments and blank lines dropped)."""
    blocks = []
    for body in re.findall(r"^```(?:sh)?\n(.*?)^```", markdown, re.S | re.M):
        lines = [line.split("  #", 1)[0].strip() for line in body.splitlines()]
        blocks.append([line for line in lines if line and not line.startswith("#")])
    return blocks


def test_the_set_up_is_two_commands_and_ci_runs_the_same_test_command():
    assert code_blocks(section("Quick start (fresh Debian 12)"))[0] == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ".ci/run must run the README's test command"


def test_every_relative_link_of_the_readme_leads_to_a_file():
    assert broken_links(README) == []


def test_every_document_is_in_the_readmes_table():
    listed = set(re.findall(r"\]\((docs/[\w.-]+\.md)\)", section("Documentation")))
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    assert pages - listed == set(), "docs pages the README's Documentation table does not list"


@pytest.mark.timeout(300)
def test_the_first_call_commands_run_as_printed(tmp_path):
    """Each line of the section's first block, with ``phonesim`` from this venv, in a fresh
    directory; ``--realtime`` (the same call, paced to the clock: 5 minutes) is only checked
    to be an option ``demo`` takes."""
    commands = code_blocks(section("Your first call"))[0]
    assert len(commands) >= 4
    for line in commands:
        argv = shlex.split(line)
        assert argv[0] == "phonesim", line
        argv[0] = str(PHONESIM)
        if "--realtime" in argv:
            help_text = subprocess.run([str(PHONESIM), "demo", "--help"], capture_output=True, text=True,
                                       timeout=60).stdout
            assert "--realtime" in help_text
            continue
        result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{line}: exit {result.returncode}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        if "cdr show" in line:
            assert "disposition" in result.stdout and "completed" in result.stdout
