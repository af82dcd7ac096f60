"""The terminals people touch: the wall phone (:mod:`.wallphone`) and the kiosk (:mod:`.kiosk`).

Each joins a keypad and an audio port (chosen by URL, :mod:`phonesim.hw`) to the
facility platform (:mod:`phonesim.facility`); :mod:`.phone_app` is the program
around a wall phone (status line, JSON events, signals).
"""
