"""Hardware backends chosen by URL: keypads and audio ports.

Each device family has one small contract (a base class) and one module per
backend.  Optional packages (pyaudio, evdev) are imported only inside their
backend module, so ``import phonesim`` and loopback mode work on a bare laptop.
This layer imports only :mod:`phonesim.dsp` plus the clock, events and
exceptions.
"""
