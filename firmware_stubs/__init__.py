"""The keypad microcontroller firmware (pico/) and what runs it on a host (host/)."""
