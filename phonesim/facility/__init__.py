"""The facility platform: call flow, policy, rates, ledger, records, prompts.

Nothing here imports a hardware library (pyaudio, evdev, serial): audio and
keys arrive as frames and events from :mod:`phonesim.hw` through the line.
"""
