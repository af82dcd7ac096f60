"""Benchmarks: printed tables, never assertions (see DESIGN.md section 5).

``python -m benchmarks`` (``make bench``) runs every ``benchmarks/<name>/``
package that has a ``__main__.py``; ``python -m benchmarks dtmf`` runs one.
"""
