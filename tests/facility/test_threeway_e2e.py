"""End to end: the robot attempts a three-way call on a loopback call; the profile's action follows.

Everything is real except the wall clock: the inmate's keys are DTMF in the
uplink, the robot's answer key is DTMF in its audio, the ledger is a SQLite file,
and the far end's audio goes through :class:`ThreeWayDetector` inside the line.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from phonesim.cli import main
from phonesim.commands.demo import SCENARIOS, run_scenario
from phonesim.facility.threeway_attempts import ATTEMPT_KINDS


def _call(tmp_path, kind: str, action: str):
    scenario = dataclasses.replace(
        SCENARIOS["threeway"],
        far_end=f"robot://accept?talk_s=45&threeway={kind}&threeway_after_s=15",
        overrides={"profile.threeway.on_confirmed": action})
    result = run_scenario(scenario, data_dir=tmp_path)
    detections = [e for e in result.cdr.events if e.kind == "three-way"]
    return result, detections


@pytest.mark.timeout(120)
def test_flash_attempt_is_disconnected_and_found_again_in_the_recording(tmp_path, capsys):
    result, detections = _call(tmp_path, "flash", "disconnect")
    assert result.summary()["disposition"] == "three-way-detected", result.transcript_text()
    acted = [d for d in detections if d.detail["action"] == "disconnect"]
    assert acted and acted[0].detail["kind"] == "hook-flash"
    live_s = acted[0].at_s - result.cdr.accepted_s
    assert live_s >= 15  # not before the attempt began
    # An investigator runs the recording (stereo, far end on the right) through the CLI.
    assert main(["threeway", "--json", result.cdr.recording_path]) == 0
    found = json.loads(capsys.readouterr().out)["detections"]
    flashes = [f for f in found if f["kind"] == "hook-flash"]
    assert flashes and abs(flashes[0]["time_s"] - live_s) < 1.0, (found, live_s)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("kind", "action"), [("stutter", "warn"), ("short-flash", "log")])
def test_warn_and_log_let_the_call_go_on(tmp_path, kind, action):
    result, detections = _call(tmp_path, kind, action)
    assert result.summary()["disposition"] == "completed", result.transcript_text()
    assert detections and {d.detail["action"] for d in detections} <= {action, "log"}
    assert max(d.detail["confidence"] for d in detections) >= 0.8


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", [k for k in ATTEMPT_KINDS if k != "flash"])
def test_every_attempt_kind_ends_the_call(tmp_path, kind):
    result, detections = _call(tmp_path, kind, "disconnect")
    assert result.summary()["disposition"] == "three-way-detected", result.transcript_text()
    acted = [d for d in detections if d.detail["action"] == "disconnect"]
    assert len(acted) == 1 and acted[0].at_s - result.cdr.accepted_s >= 15
