"""The deployment files: systemd units pass ``systemd-analyze verify``, the example
configuration loads, the install script stages every file, the udev rules name the
Pico's VID:PID."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phonesim.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = ["phonesim-phone@.service", "phonesim-kiosk.service", "phonesim-facility.service"]
INSTALLED_PHONESIM = "/opt/phonesim/venv/bin/phonesim"


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("systemd-analyze is missing (Debian package 'systemd', in the Makefile's TEST_DEBS)")
        pytest.skip("systemd-analyze is missing (install the Debian package 'systemd')")
    return path


def _staged_units(tmp_path: Path) -> list[Path]:
    """Copies of the units whose ExecStart points at an executable that exists here.

    ``systemd-analyze verify`` refuses a unit whose command is missing; on this
    machine phonesim lives in the venv, on the Pi in /opt/phonesim/venv.  A template
    is verified through an instance (``phonesim-phone@phone1.service``), as systemd
    would load it.
    """
    phonesim = Path(sys.executable).with_name("phonesim")
    assert phonesim.exists(), f"expected the phonesim entry point next to {sys.executable}"
    staged = []
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        assert INSTALLED_PHONESIM in text, f"{name}: expected ExecStart={INSTALLED_PHONESIM} ..."
        target = tmp_path / name.replace("@.", "@phone1.")
        target.write_text(text.replace(INSTALLED_PHONESIM, str(phonesim)))
        staged.append(target)
    return staged


@pytest.mark.timeout(60)
def test_units_pass_systemd_analyze_verify(tmp_path):
    tool = _systemd_analyze()
    staged = _staged_units(tmp_path)
    result = subprocess.run([tool, "verify", "--man=no", *map(str, staged)],
                            capture_output=True, text=True, timeout=50)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    # Unknown keys and bad values are only warnings for systemd: treat them as errors.
    assert "Unknown" not in report and "ignoring" not in report, report


@pytest.mark.timeout(60)
def test_verify_would_catch_a_broken_unit(tmp_path):
    """The check above can fail: a typo in a key and a missing command are reported."""
    tool = _systemd_analyze()
    broken = tmp_path / "broken.service"
    broken.write_text((DEPLOY / "phonesim-kiosk.service").read_text().replace("Restart=", "Restrat="))
    result = subprocess.run([tool, "verify", "--man=no", str(broken)],
                            capture_output=True, text=True, timeout=50)
    report = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Restrat" in report and "is not executable" in report


@pytest.mark.parametrize("name", UNITS)
def test_units_run_as_phonesim_with_device_groups_and_restart(name):
    lines = {line.split("=", 1)[0]: line.split("=", 1)[1]
             for line in (DEPLOY / name).read_text().splitlines()
             if "=" in line and not line.startswith("#")}
    assert lines["User"] == "phonesim"
    assert {"dialout", "input", "audio"} <= set(lines["SupplementaryGroups"].split())
    assert lines["Restart"] == "on-failure"
    assert lines["KillSignal"] == "SIGTERM"
    assert lines["WantedBy"] == "multi-user.target"


def test_example_config_loads_with_real_device_urls():
    cfg = load_config(DEPLOY / "phonesim.toml", search=False)
    assert cfg.devices.keypad.startswith("serial://")
    assert cfg.devices.audio.startswith("pyaudio://")
    assert cfg.paths.database.startswith("/var/lib/phonesim/")


def test_example_facility_config_loads_with_its_terminals():
    cfg = load_config(DEPLOY / "facility.toml", search=False)
    kinds = {t["name"]: t["kind"] for t in cfg.terminals}
    assert kinds == {"C-1": "phone", "C-2": "phone", "C-kiosk": "kiosk"}
    assert all(t["keypad"].startswith(("serial://", "hid://")) for t in cfg.terminals)
    assert cfg.facility["timezone"] == "America/Chicago"


def test_udev_rules_match_the_pico_and_give_stable_names():
    rules = (DEPLOY / "60-phonesim-keypads.rules").read_text()
    assert 'ATTRS{idVendor}=="2e8a", ATTRS{idProduct}=="0005"' in rules
    assert 'SYMLINK+="phonesim-keypad"' in rules
    assert 'GROUP="dialout"' in rules and 'GROUP="input"' in rules
    # every rule line (after joining continuations) has matches (==) and assignments (=)
    joined = rules.replace("\\\n", " ")
    for line in joined.splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line and ("+=" in line or '="' in line.replace('=="', "")), line


@pytest.mark.timeout(60)
def test_install_script_stages_every_file_under_destdir(tmp_path):
    env = {**os.environ, "DESTDIR": str(tmp_path)}
    result = subprocess.run(["bash", str(DEPLOY / "install.sh")], env=env,
                            capture_output=True, text=True, timeout=50)
    assert result.returncode == 0, result.stderr
    for path in ["etc/udev/rules.d/60-phonesim-keypads.rules",
                 "etc/systemd/system/phonesim-phone@.service",
                 "etc/systemd/system/phonesim-kiosk.service",
                 "etc/systemd/system/phonesim-facility.service",
                 "etc/phonesim/phone1.toml", "etc/phonesim/kiosk.toml", "etc/phonesim/facility.toml"]:
        assert (tmp_path / path).is_file(), path
    # nothing that changes the running system ran
    assert "skipped (DESTDIR set): systemctl daemon-reload" in result.stdout
    # a second run keeps an edited configuration
    (tmp_path / "etc/phonesim/phone1.toml").write_text("# edited\n")
    again = subprocess.run(["bash", str(DEPLOY / "install.sh")], env=env,
                           capture_output=True, text=True, timeout=50)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "etc/phonesim/phone1.toml").read_text() == "# edited\n"


def test_install_script_rejects_an_unknown_option():
    result = subprocess.run(["bash", str(DEPLOY / "install.sh"), "--frobnicate"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert "--frobnicate" in result.stderr
