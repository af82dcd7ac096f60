"""The layering of docs/architecture.md, checked on the source: who may import whom.

dsp/ imports nothing of phonesim; hw/ only dsp/ (and the core modules clock, events,
exc); facility/ never imports a hardware library; optional packages (pyaudio, evdev,
SIP) are imported only inside their backend modules, so ``import phonesim`` and the
loopback mode work on a bare laptop.  The console (phonesim/console) is a top layer like the
commands: nothing below it imports it, and its web stack (Starlette, uvicorn, Jinja2) is
imported nowhere else.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "phonesim"
CORE = {"phonesim.clock", "phonesim.events", "phonesim.exc"}
HARDWARE_LIBS = {"pyaudio", "evdev", "serial", "aiosipua", "aiortp"}
OPTIONAL_HOMES = {
    "pyaudio": {"phonesim/hw/audio_pyaudio.py", "phonesim/commands/devices.py"},
    "evdev": {"phonesim/hw/keypad_hid.py"},
    "aiosipua": {"phonesim/facility/farend_sip.py"},
    "aiortp": {"phonesim/facility/farend_sip.py"},
    "matplotlib": {"phonesim/commands/decode.py"},
}


#: The console's web stack: imported only inside phonesim/console (and never by ``import phonesim``).
CONSOLE_LIBS = {"starlette", "uvicorn", "jinja2", "multipart", "websockets"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n == "phonesim" or n.startswith("phonesim.")}


@pytest.mark.parametrize("path", modules("dsp"), ids=lambda p: p.name)
def test_dsp_imports_nothing_of_ours_outside_dsp(path):
    assert {n for n in ours(imports_of(path)) if not n.startswith("phonesim.dsp")} == set()


@pytest.mark.parametrize("path", modules("hw"), ids=lambda p: p.name)
def test_hw_imports_only_dsp_and_core(path):
    bad = {n for n in ours(imports_of(path))
           if n not in CORE and not n.startswith("phonesim.dsp") and not n.startswith("phonesim.hw")}
    assert bad == set(), f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", modules("facility"), ids=lambda p: p.name)
def test_facility_never_imports_a_hardware_library(path):
    top = {n.split(".")[0] for n in imports_of(path)}
    allowed = {lib for lib, homes in OPTIONAL_HOMES.items()
               if str(path.relative_to(PACKAGE.parent)) in homes}
    assert (top & HARDWARE_LIBS) - allowed == set()
    assert not {n for n in ours(imports_of(path)) if n.startswith(("phonesim.terminals", "phonesim.cli"))}


@pytest.mark.parametrize("path", modules("dsp") + modules("hw") + modules("facility") + modules("terminals"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_below_the_console_imports_it(path):
    assert not {n for n in ours(imports_of(path)) if n.startswith("phonesim.console")}


@pytest.mark.parametrize("path", modules("console"), ids=lambda p: p.name)
def test_the_console_imports_no_command(path):
    assert not {n for n in ours(imports_of(path)) if n.startswith(("phonesim.cli", "phonesim.commands"))}


def test_the_web_stack_only_in_the_console():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent)
        if rel.parts[1] != "console":
            assert not {n.split(".")[0] for n in imports_of(path)} & CONSOLE_LIBS, rel


def test_optional_packages_only_in_their_backends():
    for path in PACKAGE.rglob("*.py"):
        rel = str(path.relative_to(PACKAGE.parent))
        top = {n.split(".")[0] for n in imports_of(path)}
        for lib, homes in OPTIONAL_HOMES.items():
            if lib in top:
                assert rel in homes, f"{rel} imports {lib}"


@pytest.mark.timeout(60)
def test_import_phonesim_loads_no_optional_package():
    code = ("import sys, phonesim, phonesim.testing, phonesim.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'pyaudio', 'evdev', 'aiosipua', 'aiortp', 'matplotlib', 'starlette', 'uvicorn', 'jinja2'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
