"""The board a page is sent: a dialled number is held back until the platform has said whether it
is privileged, and a privileged one is never more than "privileged"."""

from __future__ import annotations

from phonesim.console.hub import ConsoleBoard
from phonesim.facility.live import LiveEvent

ATTORNEY = "5735550123"


def events(*items: tuple[str, dict]) -> list[LiveEvent]:
    return [LiveEvent(i, 1_800_000_000.0 + i, "jccc", "A-1-phone-1", 7, 1, kind, detail)
            for i, (kind, detail) in enumerate(items, start=1)]


def shown(board: ConsoleBoard) -> list[str]:
    return [board.row_dict("A-1-phone-1", local=True)["number"]]


def test_a_privileged_number_never_reaches_a_page():
    board = ConsoleBoard()
    seen = []
    for event in events(("offhook", {}), ("number-entered", {"number": ATTORNEY}),
                        ("answer", {"what": "number", "ok": True, "number": ATTORNEY, "privileged": True}),
                        ("phase", {"phase": "connected"}), ("end", {"disposition": "hung-up"})):
        board.apply(event)
        row = board.row_dict("A-1-phone-1", local=True)
        seen.append(row["number"])
        assert not row["listenable"] or not row["privileged"]
    assert ATTORNEY not in seen and seen[1:] == ["", "privileged", "privileged", "privileged"]
    assert board.row_dict("A-1-phone-1", local=True)["listenable"] is False


def test_an_ordinary_number_shows_once_checked_and_the_next_call_starts_blank():
    board = ConsoleBoard()
    for event in events(("offhook", {}), ("number-entered", {"number": "5735552000"})):
        board.apply(event)
    assert shown(board) == [""]
    for event in events(("answer", {"what": "number", "ok": True, "number": "5735552000", "privileged": False}),
                        ("phase", {"phase": "connected"})):
        board.apply(event)
    row = board.row_dict("A-1-phone-1", local=True)
    assert row["number"] == "5735552000" and row["listenable"] and row["in_call"]
    assert board.row_dict("A-1-phone-1", local=False)["listenable"] is False     # not this process's line
    board.apply(events(("offhook", {}))[0])
    assert shown(board) == [""]
