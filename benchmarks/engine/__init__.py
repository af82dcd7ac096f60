"""Audio engine benchmarks: per-line frame cost (lines per core) and PulseAudio round trip.

    python -m benchmarks.engine                 # both, 60 s PulseAudio run
    python -m benchmarks.engine --seconds 10    # shorter device run
    python -m benchmarks.engine --skip-device   # CPU cost only

See ``benchmarks/engine/__main__.py``; figures go to docs/benchmarks-engine.md.
"""
