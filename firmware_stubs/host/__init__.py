"""Run the unmodified Pico keypad firmware in the MicroPython unix port on a pty.

See runner.FirmwareProcess and ``python -m firmware_stubs.host --pty``.
"""
