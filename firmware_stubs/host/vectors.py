"""The golden byte vectors of ``firmware_stubs/PROTOCOL.md``, machine-readable.

The protocol page is the single source: the vectors live in its ```` ```golden ````
code block and both ends' tests read them from there with :func:`load_vectors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROTOCOL_MD = Path(__file__).resolve().parent.parent / "PROTOCOL.md"

__all__ = ["PROTOCOL_MD", "Vector", "load_vectors"]


@dataclass(frozen=True)
class Vector:
    direction: str  # "d2h" (device to host) or "h2d"
    wire: bytes  # exactly what travels on the wire
    meaning: str  # see PROTOCOL.md, "Golden vectors"
    line_no: int  # in PROTOCOL.md, for error messages


def _unescape(text: str) -> bytes:
    return text.encode("latin-1").decode("unicode_escape").encode("latin-1")


def load_vectors(path: Path = PROTOCOL_MD) -> list[Vector]:
    vectors: list[Vector] = []
    inside = False
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() == "```golden":
            inside = True
            continue
        if inside and line.strip() == "```":
            break
        if not inside or not line.strip():
            continue
        fields = [field.strip() for field in line.split(" | ")]
        if len(fields) != 3 or fields[0] not in ("d2h", "h2d"):
            raise ValueError(f"{path}:{line_no}: expected 'd2h|h2d | wire | meaning', got {line!r}")
        vectors.append(Vector(fields[0], _unescape(fields[1]), fields[2], line_no))
    if not vectors:
        raise ValueError(f"{path}: no ```golden block found")
    return vectors
