"""The words of the recorded prompts, for people who read instead of listen.

The phone's menu is audio only; a person at a laptop (``phonesim phone``), a
transcript (``phonesim demo``) or a log needs the same words as text.  The text
of every prompt lives in one place, the ``PROMPTS`` table of
``audio/render_prompts.py``, which writes it, file by file, into the table of
the prompt folder's ``README.md`` (a test keeps the two in step).  This module
reads that table from the folder the prompts are loaded from
(:func:`phonesim.facility.prompts.default_prompt_folder`), so the texts are never
copied, and a folder of one's own recordings brings its own words.  A folder
without the table gives no texts: callers fall back to the prompt's name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

__all__ = ["load_prompt_texts", "prompt_texts", "spoken_text"]

TABLE_BEGIN = "<!-- prompts:begin -->"
TABLE_END = "<!-- prompts:end -->"
#: ``| `welcome.wav` | Welcome to the inmate telephone system. | 2.38 | wall phone: off hook |``
#: A prompt ending in one of these words goes on with the next one ("a call from" John Doe).
_LEADS_ON = frozenset({"from", "at", "to", "is", "press", "of", "for", "costs"})
_ROW = re.compile(r"^\| `(?P<name>[^`/]+)\.wav` \| (?P<text>.*?) \| [0-9.]+ \| .* \|$")


def load_prompt_texts(folder: str | Path) -> dict[str, str]:
    """``{prompt name: exact text}`` from ``folder/README.md``'s table ({} without one)."""
    try:
        readme = (Path(folder) / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    _, found, rest = readme.partition(TABLE_BEGIN)
    table = rest.partition(TABLE_END)[0] if found else ""
    texts = {}
    for row in table.splitlines():
        match = _ROW.match(row.strip())
        if match:
            texts[match["name"]] = match["text"].strip()
    return texts


@functools.cache
def prompt_texts() -> Mapping[str, str]:
    """The texts of the prompt folder in use (read once)."""
    from phonesim.facility.prompts import default_prompt_folder

    return MappingProxyType(load_prompt_texts(default_prompt_folder()))


def spoken_text(words: Iterable[str], texts: Mapping[str, str] | None = None) -> str:
    """What a sequence of prompts says, as one line of text.

    ``["please_hold", "call_limit_is", "n_15", "minutes"]`` -> ``"Please hold while your
    call is connected. This call is limited to fifteen minutes."``  A prompt missing from
    the table (a recorded name, a folder without texts) is shown by its name.
    """
    texts = prompt_texts() if texts is None else texts
    pieces: list[str] = []
    for word in words:
        text = texts.get(word) or _name_as_words(word)
        if pieces and text[:1].isupper() and pieces[-1][-1:] not in ".,!?:;" \
                and pieces[-1].rsplit(" ", 1)[-1] not in _LEADS_ON:
            pieces[-1] += "."                        # a new sentence after a word or a name
        pieces.append(text)
    line = " ".join(pieces)
    return line + "." if line and line[-1] not in ".!?" else line


def _name_as_words(name: str) -> str:
    """``"say_number:5"`` -> ``"5"``; ``"n_15"`` -> ``"15"``; ``"call_type_menu"`` -> ``"call type menu"``."""
    head, sep, tail = name.partition(":")
    if sep:
        return tail
    head, _, tail = name.partition("_")
    if head in ("digit", "n") and tail.isdigit():
        return tail
    return name.replace("_", " ")
