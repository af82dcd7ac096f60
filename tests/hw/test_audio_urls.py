"""open_audio: URL forms and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from phonesim.exc import InvalidUrl
from phonesim.hw.audio import NullAudioPort, open_audio


@pytest.mark.parametrize("url,match", [
    ("usb", "expected one of 'pyaudio://"),
    ("alsa://hw0", "unknown scheme 'alsa'"),
    ("null://x", "expected 'null://'"),
    ("null://?a=1", "unknown option"),
    ("pyaudio://?device=USB&rate=fast", "integer rate"),
    ("pyaudio://?rate=4000", "at least 8000"),
    ("pyaudio://?dev=USB", "unknown option"),
    ("pyaudio://USB", "options after"),
])
def test_bad_urls_say_what_was_expected(url, match):
    with pytest.raises(InvalidUrl, match=match):
        open_audio(url)


def test_null_port():
    with open_audio("null://") as port:
        assert isinstance(port, NullAudioPort) and not port.paced
        assert not port.read_frame().any()
        port.write_frame(np.ones(160, np.int16))
        assert port.take_lost_samples() == 0
