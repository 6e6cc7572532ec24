"""`dr resume` of one run, twice at once (issue 17, item 4): one carries it on, the other is
refused with who holds it; a journal that fails after an action never re-runs it."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.engine.operator import Answer
from orchestrator.errors import JournalError, RunNotResumable
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from tests.support.hardening_runbooks import blocking_runbook, counting_runbook, effects_of

DATA = Path(__file__).parent.parent / "data"


class Yes:
    interactive = False

    def ask_done(self, title: str, instructions: str, hosts: list[str]) -> Answer:
        return Answer.YES

    def ask_proceed(self, title: str, changes: list[str]) -> Answer:
        return Answer.YES

    def wait_notice(self, message: str) -> None:
        pass


class Nobody(Yes):
    def ask_done(self, title: str, instructions: str, hosts: list[str]) -> Answer:
        return Answer.UNAVAILABLE


def options(**params: Any) -> RunOptions:
    return RunOptions(
        mode="drill", operator="duty-wang", params={k: str(v) for k, v in params.items()}
    )


def two_resumes_at_once(url: str, tmp_path: Path) -> None:
    """Shared with the PostgreSQL twin in tests/integration/test_hardening_resume.py."""
    entered, release = threading.Event(), threading.Event()
    registry = RunbookRegistry({"hold-then-act": blocking_runbook(entered, release)})
    inventory = load_inventory(DATA / "engine-drill.yaml")
    effects = tmp_path / "effects.log"
    journal_a, journal_b = Journal(url), Journal(url)
    try:
        first = Engine(journal_a, registry, operator_io=Nobody()).start(
            "hold-then-act", inventory, options(effects=effects)
        )
        assert first.status == "waiting"
        outcome: dict[str, Any] = {}

        def resume_a() -> None:
            engine = Engine(journal_a, registry, operator_io=Yes())
            outcome["a"] = engine.resume(first.run_id, inventory, options())

        thread = threading.Thread(target=resume_a)
        thread.start()
        assert entered.wait(30), "the first resume never reached its action"
        try:
            with pytest.raises(RunNotResumable) as refused:
                Engine(journal_b, registry, operator_io=Yes()).resume(
                    first.run_id, inventory, options()
                )
        finally:
            release.set()
            thread.join(60)
        message = refused.value.message
        assert f"process {os.getpid()} on {socket.gethostname()} since " in message
        assert outcome["a"].status == "succeeded"
        assert effects_of(effects) == ["acted"]
        # Given back at the end: a later resume is judged on the run alone (finished).
        with pytest.raises(RunNotResumable, match="already ended"):
            Engine(journal_b, registry, operator_io=Yes()).resume(
                first.run_id, inventory, options()
            )
    finally:
        journal_a.close()
        journal_b.close()


def test_two_resumes_of_one_run_at_once_on_sqlite(tmp_path: Path) -> None:
    two_resumes_at_once(f"sqlite:///{tmp_path}/journal.sqlite3", tmp_path)


def test_a_lease_left_by_a_dead_process_on_this_machine_is_taken_over(tmp_path: Path) -> None:
    from sqlalchemy import insert

    from orchestrator.journal.schema import run_leases

    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    try:
        lease = journal.run_lease()
        dead = 2**22 + 12345  # above pid_max's default: no such process
        with lease._transaction() as conn:
            conn.execute(
                insert(run_leases).values(
                    run_id="r1", holder="x", host=socket.gethostname(), pid=dead,
                    since="2026-01-01T00:00:00+00:00", expires_at=4e9,
                )
            )  # fmt: skip
        with lease.hold("r1") as me:
            assert me.pid == os.getpid()
    finally:
        journal.close()


class FailingJournal(Journal):
    """A journal whose database fails once, right after an action succeeded."""

    failed = False

    def step_finished(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("status") == "succeeded" and not self.failed:
            self.failed = True
            raise JournalError("could not write to the journal: disk I/O error")
        super().step_finished(*args, **kwargs)


def test_a_journal_write_error_after_an_action_does_not_run_it_again(tmp_path: Path) -> None:
    registry = RunbookRegistry({"count-once": counting_runbook(retries=2)})
    inventory = load_inventory(DATA / "engine-drill.yaml")
    effects = tmp_path / "effects.log"
    journal = FailingJournal(f"sqlite:///{tmp_path}/journal.sqlite3")
    try:
        with pytest.raises(JournalError):
            Engine(journal, registry).start("count-once", inventory, options(effects=effects))
    finally:
        journal.close()
    assert effects_of(effects) == ["ran"]
