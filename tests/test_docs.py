"""The project's documentation is self-contained: nothing points outside the repository.

Docstrings, comments and pages once pointed at design notes that were never part of
the repository; a reader who followed them found nothing.  What a user or maintainer
needs lives in ``docs/``.  So: no tracked file under the project's folders may name
those outside notes, and every relative link in ``docs/*.md`` must lead to a file
that exists in the checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()  # it names the patterns
SCANNED = ("phonesim", "tests", "benchmarks", "firmware_stubs", "deploy", "docs")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", "out", ".venv"}

#: Pointers to documents that are not in the repository.
OUTSIDE_DOCUMENTS = re.compile(
    rb"DESIGN\.md"
    rb"|/work/shared|shared/reference"
    rb"|reference/[\w.-]+\.md"
    rb"|\b(?:ics-domain|hardware-and-ci|sip-outside-line|model-codebases|postgresql-in-ci"
    rb"|browser-tests)\.md"
    rb"|/tmp/[\w.-]+\.md"
)
#: An inline Markdown link or image: ``[text](target)`` / ``![alt](target "title")``.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`+[^`\n]*`+")


def tracked_files(*paths: str) -> list[str]:
    """Repository-relative paths of the files git tracks under ``paths`` (a walk without git)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=ROOT, capture_output=True,
                             check=True, timeout=30).stdout
        return sorted(p for p in out.decode().split("\0") if p and (ROOT / p).is_file())
    except (OSError, subprocess.SubprocessError):
        found = []
        for top in paths:
            if (ROOT / top).is_file():
                found.append(top)
                continue
            for folder, dirs, files in os.walk(ROOT / top):
                dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
                found += [(Path(folder) / f).relative_to(ROOT).as_posix() for f in files]
        return sorted(found)


def outside_pointers(data: bytes) -> list[tuple[int, str]]:
    """``(line number, matched text)`` for every pointer to a document outside the repository."""
    return [(data.count(b"\n", 0, m.start()) + 1, m.group().decode("utf-8", "replace"))
            for m in OUTSIDE_DOCUMENTS.finditer(data)]


def relative_links(markdown: str) -> list[str]:
    """Link targets that name a file of the checkout (no URL scheme, not a bare #anchor).

    Code blocks and code spans are not links, so they are removed first.
    """
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target)
    return targets


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The relative links of ``page`` whose file is missing or lies outside ``root``."""
    broken = []
    for target in relative_links(page.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(root.resolve()) or not resolved.exists():
            broken.append(target)
    return broken


def report(found: dict[str, list[tuple[int, str]]]) -> str:
    return "; ".join(f"{path}:{line}: {text}" for path, hits in found.items() for line, text in hits)


def scan(paths: list[str]) -> dict[str, list[tuple[int, str]]]:
    found = {}
    for path in paths:
        hits = outside_pointers((ROOT / path).read_bytes())
        if hits:
            found[path] = hits
    return found


# --- the checks themselves can fail --------------------------------------------------------

def test_the_pattern_finds_pointers_and_spares_ordinary_words():
    planted = b"ok\nsee DESIGN.md 2.4\n(``reference/ics-domain.md`` section 3)\n../shared/reference/x.md\n"
    assert [line for line, _ in outside_pointers(planted)] == [2, 3, 4]
    assert outside_pointers(b"a reference for the rates; the design of docs/domain.md") == []


def test_the_link_checker_flags_missing_and_escaping_targets(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "docs" / "page.md"
    page.write_text("[ok](../there.md#part) [gone](missing.md) [out](../../etc/passwd) "
                    "[web](https://example.org/a.md) [here](#top) `[code](nothere.md)`\n"
                    "```\n[fenced](nothere.md)\n```\n")
    assert broken_links(page, root=tmp_path) == ["missing.md", "../../etc/passwd"]


# --- the repository ----------------------------------------------------------------------

def test_no_file_points_at_documents_outside_the_repository():
    files = [p for p in tracked_files(*SCANNED) if p != THIS_FILE]
    # the scan must have seen the project, or an empty list would pass
    assert {"phonesim/__init__.py", "docs/domain.md", "docs/hardware.md"} <= set(files), files[:20]
    found = scan(files)
    assert not found, f"pointers to documents outside the repository (point at docs/ instead): {report(found)}"


def test_readme_points_only_at_documents_in_the_repository():
    found = scan(tracked_files("README.md"))
    if found:
        pytest.fail("README.md still points at documents outside the repository; the README rework "
                    f"that goes with docs/ must replace them with docs/ pages: {report(found)}")


def test_every_relative_link_in_docs_leads_to_a_file():
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert {p.name for p in pages} >= {"domain.md", "hardware.md"}
    checked = {page.name: relative_links(page.read_text(encoding="utf-8")) for page in pages}
    assert sum(len(links) for links in checked.values()) > 0, "no relative links found at all"
    broken = {page.name: bad for page in pages if (bad := broken_links(page))}
    assert not broken, f"links to files that do not exist: {broken}"
