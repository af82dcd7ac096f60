"""Ledger invariants under random operation sequences (hypothesis state machine), on both engines.

A plain-Python model keeps the expected balances; after every step the real
ledger (a SQLite file, or a PostgreSQL database) must agree with it, no balance may
be negative, the journal must reconcile, and a repeated (call, minute) charge must
never charge twice.  Each example starts from a fresh copy of one seeded database
(a file copy; ``CREATE DATABASE ... TEMPLATE``): the PIN hashing of the seed runs
once, not once per example.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from phonesim.clock import VirtualClock
from phonesim.exc import InsufficientFunds
from phonesim.facility.ledger import Ledger

INMATES = ["1001", "1002"]
BTNS = ["5735550100", "3145550199"]
amounts = st.integers(min_value=1, max_value=700)


class LedgerMachine(RuleBasedStateMachine):
    #: ``() -> (url, cleanup)``: a fresh, empty database for each example (set by the test).
    new_database: Callable[[], tuple[str, Callable[[], None]]]

    def __init__(self) -> None:
        super().__init__()
        url, self.cleanup = self.new_database()
        self.clock = VirtualClock()
        self.ledger = Ledger.open(url, clock=self.clock)
        self.trust = dict.fromkeys(INMATES, 0)
        self.debit = dict.fromkeys(INMATES, 0)
        self.prepaid = dict.fromkeys(BTNS, 0)
        self.owed = 0
        self.funded: set[str] = set()
        self.charged: dict[tuple[int, int], int] = {}

    def teardown(self) -> None:
        self.ledger.close()
        self.cleanup()

    @rule(inmate=st.sampled_from(INMATES), amount=amounts)
    def deposit_trust(self, inmate, amount):
        assert self.ledger.credit_trust(inmate, amount) == self.trust[inmate] + amount
        self.trust[inmate] += amount

    @rule(inmate=st.sampled_from(INMATES), amount=amounts)
    def buy_phone_time(self, inmate, amount):
        try:
            receipt = self.ledger.transfer_trust_to_debit(inmate, amount)
        except InsufficientFunds:
            assert self.trust[inmate] < amount
            return
        self.trust[inmate] -= amount
        self.debit[inmate] += amount
        assert (receipt.trust_after_cents, receipt.debit_after_cents) == (self.trust[inmate], self.debit[inmate])

    @rule(btn=st.sampled_from(BTNS), amount=amounts)
    def fund_prepaid(self, btn, amount):
        self.ledger.fund_prepaid(btn, amount)
        self.prepaid[btn] += amount
        self.funded.add(btn)

    @rule(call_id=st.integers(1, 4), minute=st.integers(0, 5), amount=st.integers(0, 60),
          payer=st.sampled_from(["debit:1001", "debit:1002", "prepaid:5735550100", "prepaid:3145550199",
                                 "collect:3145550199"]))
    def charge(self, call_id, minute, amount, payer):
        kind, payer_id = payer.split(":")
        result = self.ledger.charge_minute(call_id, minute, payer_kind=kind, payer_id=payer_id,
                                           amount_cents=amount)
        key = (call_id, minute)
        if key in self.charged:
            assert result.duplicate and result.ok
            assert result.amount_cents == self.charged[key]
            return
        assert not result.duplicate
        if kind == "debit":
            fits = self.debit[payer_id] >= amount
        elif kind == "prepaid":  # an AdvanceConnect account exists once funded
            fits = payer_id in self.funded and self.prepaid[payer_id] >= amount
        else:
            fits = self.owed + amount <= 2000
        assert result.ok == fits, (result, kind, payer_id, amount)
        if result.ok:
            self.charged[key] = amount
            if kind == "debit":
                self.debit[payer_id] -= amount
            elif kind == "prepaid":
                self.prepaid[payer_id] -= amount
            else:
                self.owed += amount

    @precondition(lambda self: self.owed > 0)
    @rule(data=st.data())
    def pay_bill(self, data):
        amount = data.draw(st.integers(1, self.owed))
        assert self.ledger.pay_direct_bill(BTNS[1], amount) == self.owed - amount
        self.owed -= amount

    @rule()
    def time_passes(self):
        self.clock.advance_s(3600)

    @invariant()
    def balances_match_the_model_and_reconcile(self):
        for inmate in INMATES:
            assert self.ledger.trust_balance_cents(inmate) == self.trust[inmate] >= 0
            assert self.ledger.debit_balance_cents(inmate) == self.debit[inmate] >= 0
        for btn in BTNS:
            assert self.ledger.prepaid_balance_cents(btn) == self.prepaid[btn] >= 0
        assert self.ledger.direct_bill(BTNS[1]).owed_cents == self.owed
        assert self.ledger.reconcile() == []


def seed(url: str) -> None:
    """What every example starts from: two inmates (no money yet) and a Direct Bill account."""
    with Ledger.open(url, clock=VirtualClock()) as ledger:
        for i, inmate in enumerate(INMATES):
            ledger.add_inmate(inmate, f"Person {i}", f"{i + 1}" * 4)
        ledger.open_direct_bill(BTNS[1], credit_limit_cents=2000)


_examples = itertools.count(1)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_ledger_invariants(engine, request, tmp_path):
    if engine == "sqlite":
        template = tmp_path / "seeded.sqlite3"
        seed(str(template))

        def new_database() -> tuple[str, Callable[[], None]]:
            path = tmp_path / f"example-{next(_examples)}.sqlite3"
            shutil.copyfile(template, path)            # closed: no WAL left beside it
            return str(path), lambda: path.unlink()
    else:
        server = request.getfixturevalue("postgres_server")
        seeded = f"invariants_seed_{next(_examples)}"
        seed(server.create_database(seeded))
        request.addfinalizer(lambda: server.drop_database(seeded))

        def new_database() -> tuple[str, Callable[[], None]]:
            name = f"invariants_{next(_examples)}"
            return server.create_database(name, template=seeded), lambda: server.drop_database(name)

    machine = type(f"LedgerMachine_{engine}", (LedgerMachine,), {"new_database": staticmethod(new_database)})
    # a PostgreSQL example costs a database copy and a socket round trip per statement: 20
    # examples (600 steps) there take 10-30 s on this 2-core machine, as 25 take on SQLite
    examples = 25 if engine == "sqlite" else 20
    run_state_machine_as_test(machine, settings=settings(max_examples=examples, stateful_step_count=30,
                                                         deadline=None))
