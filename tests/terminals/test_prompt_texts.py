"""The prompts' words as text: read from the prompt folder's table, never copied, in step with
``audio/render_prompts.py``'s PROMPTS (what the recordings say)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from phonesim.terminals.prompt_texts import load_prompt_texts, spoken_text

AUDIO = Path(__file__).resolve().parents[2] / "audio"


def _render_table() -> dict:
    spec = importlib.util.spec_from_file_location("render_prompts", AUDIO / "render_prompts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PROMPTS


def test_the_texts_are_the_ones_the_prompts_were_rendered_from():
    texts = load_prompt_texts(AUDIO)
    assert texts == {name: spoken for name, (spoken, _where) in _render_table().items()}


def test_a_folder_without_the_table_gives_no_texts_and_names_stand_in(tmp_path):
    assert load_prompt_texts(tmp_path) == {}
    (tmp_path / "README.md").write_text("# my recordings\n")
    assert load_prompt_texts(tmp_path) == {}
    assert spoken_text(["call_type_menu", "n_15"], {}) == "call type menu 15."


def test_prompts_join_into_sentences():
    texts = {"please_hold": "Please hold while your call is connected.", "call_limit_is":
             "This call is limited to", "minutes": "minutes.", "a_call_from": "This is a call from"}
    assert spoken_text(["please_hold", "call_limit_is", "n_15", "minutes"], texts) == \
        "Please hold while your call is connected. This call is limited to 15 minutes."
    assert spoken_text(["a_call_from", "John Doe"], texts) == "This is a call from John Doe."
