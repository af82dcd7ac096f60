"""Benchmarks: printed tables, never assertions (targets: docs/architecture.md).

``python -m benchmarks`` (``make bench``) runs every ``benchmarks/<name>/``
package that has a ``__main__.py``; ``python -m benchmarks dtmf`` runs one.
"""
