"""The officers' and investigators' console: a web application on the platform's records and
live events.

* the **live board** of every line (server-sent events), **listening** to a call live (its
  two channels over a WebSocket into Web Audio) and **cutting it off**;
* **call records**: search, a call's timeline and recording with a waveform and markers,
  an **evidence package** (recording, record, manifest of SHA-256 sums);
* **incidents** and **no-contact orders**; **administration** (number requests, blocks,
  inmates, accounts, lockdown, staff); the **audit log**; a day's calls per unit.

Roles (officer, investigator, administrator), sessions, CSRF and throttling are in
:mod:`phonesim.console.app` and :mod:`phonesim.console.staff`.  Start it with
``phonesim facility --console`` (inside the platform process, so it can listen to its
lines) or ``phonesim console`` (on its own).  docs/console.md describes it for its users.

This package is the top layer: it may import the facility, terminals and hardware
layers; nothing below imports it.  It needs the ``console`` extra (Starlette, uvicorn,
Jinja2, python-multipart).
"""
