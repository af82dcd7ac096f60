"""The composition root: one place that builds the platform and the lines standing on it.

``phonesim phone``, ``phonesim demo``, the kiosk, the tests and the engine benchmark
all build a line here, so what they run is the same object: the database (ledger and
call records), the policy rules of the configuration, the four interfaces a line
uses (:mod:`phonesim.facility.services`), the prompts, and — per line — a job runner
(a worker thread in real time, inline in virtual time), the audio graph and the
executor.

    with Platform.open(cfg, database="phonesim-data/phonesim.sqlite3", clock=clock) as platform:
        line = platform.line(far_end=far, clock=clock, recordings_dir="rec", terminal="A-1",
                             realtime=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phonesim.facility.cdr import CdrStore
from phonesim.facility.facility_data import missouri_doc_facilities
from phonesim.facility.jobs import InlineJobs, WorkerJobs
from phonesim.facility.ledger import Ledger
from phonesim.facility.line import FacilityLine
from phonesim.facility.policy import Policy
from phonesim.facility.prompts import PromptSet
from phonesim.facility.services import (
    CdrRecords,
    LedgerBilling,
    LedgerIdentity,
    PolicyChecks,
    Services,
)
from phonesim.facility.sites import Facility, Sites
from phonesim.facility.speech import render_speech

#: The facility whose name the shipped ``facility_name`` prompt says.
SHIPPED_FACILITY_NAME = "Jefferson City Correctional Center"


class Platform:
    """The facility platform of one configuration, in this process.

    Parameters
    ----------
    cfg
        The configuration.
    ledger
        The facility database (:class:`~phonesim.facility.ledger.Ledger`).
    prompts
        The prompt set (default: the shipped prompts; loading refuses a missing or corrupt one).
    services
        Stand-ins for the platform's interfaces (tests); default: the database's.
    """

    def __init__(self, cfg: Any, *, ledger: Ledger, prompts: PromptSet | None = None,
                 services: Services | None = None) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.cdrs = CdrStore(ledger)
        self.sites = Sites(ledger.db)
        self.policy = Policy(cfg, ledger, self.cdrs)
        self.prompts = prompts if prompts is not None else PromptSet.load()
        self.services = services if services is not None else Services(
            identity=LedgerIdentity(ledger), policy=PolicyChecks(self.policy),
            billing=LedgerBilling(ledger), records=CdrRecords(self.cdrs))
        self._owns_ledger = False
        self.facility = self.ensure_facility()

    def ensure_facility(self) -> Facility:
        """The configured facility's record (created, or its details brought up to date), and its
        name as the called party hears it: rendered once, when the facility is created, and kept
        in the database for every host (the default facility's is a shipped prompt)."""
        f = self.cfg.facility
        known = next((k for k in missouri_doc_facilities() if k.id == f["id"]), None)
        facility = self.sites.add_facility(f["id"], f["name"], state=f["state"], timezone=f["timezone"],
                                           profile=f["profile"], town=known.town if known else "",
                                           kind=known.kind if known else "")
        samples = self.ledger.voice_name("facility", facility.id)
        if samples is None:
            if facility.name == SHIPPED_FACILITY_NAME:
                samples, source = self.prompts["facility_name"], "shipped prompt"
            else:
                samples, source = render_speech(facility.name), "espeak-ng"
            self.ledger.set_voice_name("facility", facility.id, samples, source=source)
        self.prompts.add("facility_name", samples)
        return facility

    @classmethod
    def open(cls, cfg: Any, *, database: str | Path, clock: Any = None,
             prompts: PromptSet | None = None) -> Platform:
        """Open (creating and migrating as needed) the facility database and build the platform."""
        platform = cls(cfg, ledger=Ledger.open(database, clock=clock, cfg=cfg), prompts=prompts)
        platform._owns_ledger = True
        return platform

    def __repr__(self) -> str:
        return f"<Platform {self.ledger!r}>"

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_ledger:
            self.ledger.close()

    def line(self, *, far_end: Any, clock: Any, recordings_dir: str | Path, terminal: str = "phone-1",
             realtime: bool = False, jobs: Any = None, services: Services | None = None,
             keep_history: bool = False, audio: Any = None) -> FacilityLine:
        """A facility line for one wall phone.

        ``realtime``: platform work on a worker thread (the line never waits); otherwise
        inline, reproducible frame for frame. ``jobs`` replaces the runner (tests);
        ``services`` the interfaces this line uses; ``audio`` the audio graph (a
        :class:`~phonesim.facility.line_audio.SilentLineAudio` to simulate without audio).
        """
        if jobs is None:
            jobs = WorkerJobs(f"line-db-{terminal}") if realtime else InlineJobs()
        return FacilityLine(self.cfg, services=services or self.services, prompts=self.prompts,
                            far_end=far_end, clock=clock, jobs=jobs, recordings_dir=recordings_dir,
                            terminal=terminal, keep_history=keep_history, audio=audio)
