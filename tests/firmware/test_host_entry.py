"""``python -m firmware_stubs.host`` started by a Python without the dev extra (not the venv's):
one line saying what is missing and how to run it, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
def test_outside_the_venv_the_host_says_what_is_missing_in_one_line(tmp_path):
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    if not base_python.exists() or sys.base_prefix == sys.prefix:
        pytest.skip("needs a venv with its base Python beside it")
    env = {"PATH": str(tmp_path), "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    proc = subprocess.run([str(base_python), "-m", "firmware_stubs.host", "--pty"], capture_output=True,
                          text=True, env=env, timeout=50, cwd=REPO)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "'micropython'" in proc.stderr and str(base_python) in proc.stderr
    assert "'.venv/bin/python -m firmware_stubs.host --pty'" in proc.stderr
