"""phonesim: an emulator of the facility side of a prison phone system.

Wall phones and kiosks on a Raspberry Pi with a serial or USB keypad and a
headset, or in loopback mode on a laptop with no hardware at all.  Key presses
become DTMF tones in the handset's audio, and the facility decodes them from
that audio; a recorded warning message is injected into live calls; calls are
billed per minute, recorded and watched for three-way calling.

Layers (each imports only those below it)::

    cli, commands       the ``phonesim`` command line
    terminals           WallPhone, Kiosk
    facility            call flow, policy, rates, ledger, CDRs, recorder, far end
    hw                  keypads and audio ports chosen by URL
    dsp                 pure numpy/scipy signal processing

plus :mod:`phonesim.config`, :mod:`phonesim.clock`, :mod:`phonesim.events`,
:mod:`phonesim.exc` and :mod:`phonesim.testing` (public fakes).
"""

__version__ = "0.1.0"

from phonesim.clock import (
    FRAME_MS,
    FRAME_SAMPLES,
    SAMPLE_RATE_HZ,
    Clock,
    RealTimeClock,
    VirtualClock,
)
from phonesim.config import Config, load_config
from phonesim.exc import PhoneSimError

__all__ = [
    "FRAME_MS",
    "FRAME_SAMPLES",
    "SAMPLE_RATE_HZ",
    "Clock",
    "Config",
    "PhoneSimError",
    "RealTimeClock",
    "VirtualClock",
    "load_config",
    "__version__",
]
