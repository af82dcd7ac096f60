"""Prompt player and warning injector: schedule, fades, ducking, saturation, barge-in."""

from __future__ import annotations

import numpy as np
import pytest

from phonesim.dsp.mix import PromptPlayer, WarningInjector, saturating_add

F = 160


def _tone(n, amplitude=8000.0, freq_hz=500.0):
    return (amplitude * np.sin(2 * np.pi * freq_hz * np.arange(n) / 8000)).astype(np.int16)


def _run_injector(inj, n_frames, inmate_src=None, far_src=None):
    to_inmate, to_far, flags = [], [], []
    for i in range(n_frames):
        a = np.zeros(F, np.int16) if inmate_src is None else inmate_src[i * F:(i + 1) * F].copy()
        b = np.zeros(F, np.int16) if far_src is None else far_src[i * F:(i + 1) * F].copy()
        flags.append(inj.process(a, b, i))
        to_inmate.append(a)
        to_far.append(b)
    return np.concatenate(to_inmate), np.concatenate(to_far), np.array(flags)


def test_saturating_add_clips_instead_of_wrapping():
    a = np.array([30000, -30000, 100], np.int16)
    b = np.array([10000, -10000, -50], np.int16)
    assert saturating_add(a, b).tolist() == [32767, -32768, 50]
    assert saturating_add(a, np.array([0.6, 0.0, 0.4])).tolist() == [30001, -30000, 100]
    saturating_add(a, b, out=a)
    assert a.tolist() == [32767, -32768, 50]


def test_warning_starts_on_schedule_then_every_interval_in_both_directions():
    warning = _tone(F * 10 + 37)  # 10.2 frames long
    inj = WarningInjector(warning, first_after_frames=25, interval_frames=100, duck_db=12)
    inj.start(at_frame=5)
    inmate, far, flags = _run_injector(inj, 400)
    assert inj.played_at_frames == [30, 130, 230, 330]
    playing = np.flatnonzero(flags)
    assert playing[0] == 30 and flags[30:41].all() and not flags[41:130].any()
    # the first non-zero sample is in frame 30 (silence on both sides otherwise)
    for out in (inmate, far):
        first = np.flatnonzero(out)[0]
        assert 30 * F <= first < 30 * F + 5, first
        seg = out[30 * F:30 * F + len(warning)].astype(int)
        # after the fade, exactly the warning
        assert np.array_equal(seg[40:-40], warning[40:-40].astype(int))
    assert np.array_equal(inmate, far)


def test_warning_edges_are_faded():
    warning = np.full(F * 5, 10000, np.int16)  # a DC block: the worst case for clicks
    inj = WarningInjector(warning, first_after_frames=1, interval_frames=50, duck_db=12, fade_ms=5)
    inj.start(0)
    out, _, _ = _run_injector(inj, 10)
    seg = out[F:F * 6].astype(int)
    assert 0 < seg[0] < 500, "no fade-in"
    assert 0 < seg[-1] < 500, "no fade-out"
    assert seg[40] == 10000  # full level after 5 ms
    assert np.abs(np.diff(seg)).max() < 10000 * np.pi / 40  # raised cosine slope, no step


def test_ducking_applied_while_playing_and_released_after():
    conversation = np.full(F * 60, 4000, np.int16)
    warning = np.zeros(F * 10, np.int16)
    warning[::2] = 1  # nearly silent message so only the ducking shows
    inj = WarningInjector(warning, first_after_frames=20, interval_frames=1000, duck_db=12)
    inj.start(0)
    out, far, _ = _run_injector(inj, 60, conversation, conversation)
    before = out[:20 * F].astype(float)
    during = out[21 * F:29 * F].astype(float)
    after = out[31 * F:].astype(float)
    assert np.all(before == 4000) and np.all(after == 4000)
    ducked_db = 20 * np.log10(np.abs(during).mean() / 4000)
    assert -12.2 < ducked_db < -11.8
    # the duck fades in over ~5 ms, no step to the ducked level
    edge = out[20 * F:20 * F + 60].astype(float)
    assert np.abs(np.diff(edge)).max() < 4000 * 0.75 * np.pi / 40 + 2
    assert np.array_equal(out, far)


def test_loud_input_plus_warning_saturates_never_wraps():
    loud = np.full(F * 30, 32000, np.int16)
    loud[1::2] = -32000
    warning = np.full(F * 10, 30000, np.int16)
    inj = WarningInjector(warning, first_after_frames=5, interval_frames=100, duck_db=0)
    inj.start(0)
    out, _, _ = _run_injector(inj, 30, loud, loud)
    seg = out[6 * F:14 * F].astype(int)
    assert seg[::2].min() == 32767  # 32000 + 30000 clipped, not wrapped negative
    assert seg[1::2].max() <= -2000 + 1  # -32000 + 30000


def test_skipped_frames_start_late_by_at_most_the_gap_and_keep_the_grid():
    inj = WarningInjector(_tone(F * 3), first_after_frames=10, interval_frames=50, duck_db=6)
    inj.start(0)
    a, b = np.zeros(F, np.int16), np.zeros(F, np.int16)
    for i in (8, 9, 11, 12, 13, 14):  # frame 10 never processed
        inj.process(a, b, i)
    assert inj.played_at_frames == [11]
    assert inj.next_start_frame == 60


def test_beep_mode_and_stop():
    beep = _tone(1600, freq_hz=1400.0)
    inj = WarningInjector(_tone(F * 20), first_after_frames=2, interval_frames=20, duck_db=12, beep=beep)
    assert inj.mode == "beep" and inj.length_frames == 10
    inj.start(0)
    out, _, flags = _run_injector(inj, 25)
    assert flags[2:12].all() and not flags[12:22].any() and flags[22]
    spectrum = np.abs(np.fft.rfft(out[2 * F + 80:12 * F - 80]))
    assert abs(np.argmax(spectrum) * 8000 / (10 * F - 160) - 1400) < 10
    inj.stop()
    assert not inj.active
    a = np.zeros(F, np.int16)
    assert not inj.process(a, a.copy(), 42) and not a.any()


def test_bad_frames_and_arguments_are_refused():
    inj = WarningInjector(_tone(F), first_after_frames=0, interval_frames=10, duck_db=6)
    with pytest.raises(ValueError, match="int16 frame of 160"):
        inj.process(np.zeros(80, np.int16), np.zeros(F, np.int16), 0)
    with pytest.raises(ValueError, match="duck_db"):
        WarningInjector(_tone(F), first_after_frames=0, interval_frames=10, duck_db=-3)
    with pytest.raises(ValueError, match="int16"):
        PromptPlayer().play(np.zeros(10), "x")


def test_prompt_player_queues_reports_and_is_exact():
    a, b = _tone(F * 2 + 50), _tone(F + 10, freq_hz=700.0)
    player = PromptPlayer(fade_ms=5)
    player.play(a, "a")
    player.queue([(b, "b")])
    assert player.busy
    frames, finished = [], []
    for _ in range(6):
        frame = np.zeros(F, np.int16)
        finished.append(player.mix_into(frame))
        frames.append(frame)
    out = np.concatenate(frames)
    assert finished == [[], [], ["a"], ["b"], [], []]
    assert not player.busy and player.played == ["a", "b"]
    # back to back, untouched after the 40-sample fade-in of each
    assert np.array_equal(out[40:len(a)], a[40:])
    assert np.array_equal(out[len(a) + 40:len(a) + len(b)], b[40:])
    assert abs(int(out[0])) < abs(int(a[1])) + 1 and not out[len(a) + len(b):].any()


def test_prompt_player_mixes_on_top_of_the_frame_with_saturation():
    player = PromptPlayer()
    player.play(np.full(F * 2, 20000, np.int16), "loud")
    frame = np.full(F, 20000, np.int16)
    player.mix_into(frame)
    assert frame[100] == 32767 and frame.dtype == np.int16


def test_barge_in_fades_out_and_drops_the_queue():
    player = PromptPlayer(fade_ms=5)
    player.queue([(np.full(F * 10, 10000, np.int16), "menu"), (np.full(F, 10000, np.int16), "next")])
    frame = np.zeros(F, np.int16)
    player.mix_into(frame)
    assert player.stop() is True
    frames = []
    for _ in range(3):
        frame = np.zeros(F, np.int16)
        assert player.mix_into(frame) == []  # an interrupted prompt is not "finished"
        frames.append(frame)
    out = np.concatenate(frames).astype(int)
    assert 9000 < out[0] <= 10000 and out[39] < 500 and not out[40:].any()
    assert not player.busy and player.stop() is False


def test_stop_by_tag_keeps_the_others():
    player = PromptPlayer()
    player.queue([(np.full(F, 1000, np.int16), "x"), (np.full(F, 2000, np.int16), "y")])
    assert player.stop("y") is True
    frame = np.zeros(F, np.int16)
    assert player.mix_into(frame) == ["x"] and not player.busy
