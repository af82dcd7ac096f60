"""Three-way-call detection benchmark: detection rate per attempt kind, false alarms per hour.

Run ``python -m benchmarks.threeway`` (see ``__main__.py`` for the options).
"""
