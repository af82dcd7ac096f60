"""The matrix DFT bank against the Goertzel recurrence, and its absolute phase reference."""

from __future__ import annotations

import numpy as np
import pytest

from phonesim.dsp.goertzel import ToneBank, goertzel_power


def test_matrix_form_equals_goertzel_recurrence():
    rng = np.random.default_rng(3)
    blocks = rng.normal(0, 3000, size=(4, 6, 102))
    freqs = [697.0, 941.0, 1209.0, 1633.0, 913.8]
    bank = ToneBank(freqs, 102, dtype=np.float64)
    power = bank.power(blocks)
    assert power.shape == (4, 6, 5)
    for i, f in enumerate(freqs):
        np.testing.assert_allclose(power[..., i], goertzel_power(blocks, f), rtol=1e-9)


def test_power_of_a_full_block_sine_is_its_mean_square():
    n = np.arange(400)
    x = 1000 * np.sin(2 * np.pi * 440 * n / 8000)
    bank = ToneBank([440.0, 480.0], 200)
    p = bank.power(x.reshape(2, 200))
    np.testing.assert_allclose(p[:, 0], 1000**2 / 2, rtol=1e-4)
    assert np.all(p[:, 1] < 1e-3 * p[:, 0])  # 40 Hz away: the next orthogonal bin


def test_absolute_phase_reference_makes_consecutive_blocks_agree():
    fs, f = 8000, 770.0
    n = np.arange(51 * 10)
    bank = ToneBank([f], 51)
    for df in (0.0, 10.0):
        x = np.cos(2 * np.pi * (f + df) * (n + 123456789) / fs)
        z = bank.dft(x.reshape(10, 51), 123456789 + 51 * np.arange(10))[:, 0]
        step = np.angle(z[1:] * np.conj(z[:-1]))
        np.testing.assert_allclose(step, 2 * np.pi * df * 51 / fs, atol=0.02)


def test_wrong_block_length_is_refused():
    with pytest.raises(ValueError, match="102 samples"):
        ToneBank([697.0], 102).power(np.zeros((3, 100)))


@pytest.mark.parametrize("block_len", [51, 64])  # 51: the table in block order; 64 shares a factor with 8000
def test_rotation_is_the_absolute_phase_factor_for_any_start(block_len):
    freqs = [697.0, 1633.0, 2418.0, 3266.0]
    bank = ToneBank(freqs, block_len)
    starts = np.array([0, 1, 50, 51, 7999, 8000, 123456789, 51 * 40000 + 17])
    expected = np.exp(-2j * np.pi * np.outer(starts % 8000, freqs) / 8000)
    np.testing.assert_allclose(bank.rotation(starts), expected, atol=1e-6)
    blocks = np.random.default_rng(1).normal(0, 1000, size=(starts.size, block_len))
    np.testing.assert_array_equal(bank.dft(blocks, starts), bank.dft(blocks) * bank.rotation(starts))


@pytest.mark.parametrize("block_len", [51, 64])
@pytest.mark.parametrize("first,n", [(0, 1), (51 * 7990, 40), (123456789, 4096), (17, 8000), (5, 8001)])
def test_rotation_run_is_rotation_of_consecutive_blocks(block_len, first, n):
    """Across the table's end (51 * 7990 + 40 blocks), a whole second, and past it (a gather)."""
    bank = ToneBank([697.0, 1633.0, 2418.0], block_len)
    run = bank.rotation_run(first, n)
    np.testing.assert_array_equal(run, bank.rotation(first + block_len * np.arange(n)))
    assert run.shape == (n, 3)
    if block_len == 51 and n <= 8000:  # the table in block order: a view of it, which is read-only
        assert not run.flags.writeable


@pytest.mark.parametrize("n_blocks", [5, 192, 193, 1000])
def test_dft_in_pieces_is_the_dft_and_every_piece_is_the_same_product(n_blocks):
    """Pieces of at most max_rows blocks (the last one shorter): each block's values are
    those of the product of its own piece, whatever else is in the call."""
    rng = np.random.default_rng(n_blocks)
    blocks = rng.integers(-20000, 20000, size=(2, n_blocks, 51)).astype(np.float32)
    bank = ToneBank([697.0, 1336.0, 2672.0], 51)
    z = bank.dft(blocks, max_rows=192)
    assert z.shape == (2, n_blocks, 3)
    np.testing.assert_allclose(z, bank.dft(blocks.astype(np.float64)), rtol=1e-5, atol=1e-2)
    flat = blocks.reshape(-1, 51)
    for at in range(0, flat.shape[0], 192):
        np.testing.assert_array_equal(z.reshape(-1, 3)[at:at + 192], bank.dft(flat[at:at + 192]))


def test_rotation_needs_integer_frequencies():
    with pytest.raises(ValueError, match="integer frequencies"):
        ToneBank([913.8], 51).rotation([0])


def test_importing_the_detector_does_not_import_scipy_signal():
    """scipy.signal takes most of a second to import: every program that decodes DTMF
    (phonesim decode among them) would pay it at start-up."""
    import subprocess
    import sys

    code = "import sys, phonesim.dsp.dtmf, phonesim.hw.audio_file; print('scipy.signal' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
