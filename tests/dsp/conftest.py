"""Fixtures for the DSP tests: the repository root on sys.path for ``benchmarks.dtmf.conditions``
(the line-condition helpers are shared with the benchmark so both measure the same thing)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
