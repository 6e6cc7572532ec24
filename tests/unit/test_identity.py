"""Identities: the real uid's account mapped to a contact, and one-time codes."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import InventoryError, UserInputError
from orchestrator.identity import (
    IdentityUnknown,
    Person,
    check_claim,
    one_time,
    person_at_terminal,
    terminal_account,
)
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal

DATA = Path(__file__).parent.parent / "data"


def _inventory(tmp_path: Path, **logins: str):
    doc = yaml.safe_load((DATA / "engine-drill.yaml").read_text())
    for entry in doc["contacts"]:
        if entry["name"] in logins:
            entry["login"] = logins[entry["name"]]
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_inventory(path)


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal(f"sqlite:///{tmp_path}/j.sqlite3")
    yield j
    j.close()


def test_the_terminal_is_the_contact_whose_login_is_the_real_uids_account(tmp_path, monkeypatch):
    account, uid = terminal_account()
    # The environment names no one: $USER and $LOGNAME are not asked.
    monkeypatch.setenv("USER", "director-li")
    monkeypatch.setenv("LOGNAME", "director-li")
    person = person_at_terminal(_inventory(tmp_path, **{"duty-wang": account}))
    assert person == Person(
        "duty-wang", "duty-operator", account, f"os-account:{account} (uid {uid})"
    )


def test_an_unmapped_account_is_told_how_to_map_itself(tmp_path):
    account, _ = terminal_account()
    with pytest.raises(IdentityUnknown, match=f"add `login: {account}`") as caught:
        person_at_terminal(_inventory(tmp_path))
    assert isinstance(caught.value, UserInputError)


def test_two_contacts_cannot_share_a_login(tmp_path):
    with pytest.raises(InventoryError, match="login 'wang' is already contact 'duty-wang'"):
        _inventory(tmp_path, **{"duty-wang": "wang", "director-li": "wang"})


def test_the_drill_roster_names_contacts(tmp_path):
    doc = yaml.safe_load((DATA / "engine-drill.yaml").read_text())
    doc["drill"] = {"auto_approve_by": ["director-nobody"]}
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InventoryError, match="director-nobody"):
        load_inventory(path)


def test_a_claim_may_only_repeat_who_the_terminal_is():
    person = Person("duty-wang", "duty-operator", "wang", "os-account:wang (uid 1001)")
    for same in (None, "", "duty-wang", "wang"):
        check_claim(same, person, option="--as")
    with pytest.raises(IdentityUnknown, match="--as 'director-li': this terminal is duty-wang"):
        check_claim("director-li", person, option="--as")


def test_a_code_is_stored_as_a_hash_and_opens_its_step_once(tmp_path, journal):
    contact = _inventory(tmp_path).contact("director-li")
    token = one_time.issue(journal, "run-1", "approve", contact)
    assert len(token) >= 32  # 24 random bytes, urlsafe base64
    with sqlite3.connect(tmp_path / "j.sqlite3") as conn:
        stored = json.dumps(conn.execute("SELECT * FROM approval_codes").fetchall())
    assert token not in stored and one_time.token_hash(token) in stored

    for run_id, step, purpose in [("run-2", "approve", "approval"), ("run-1", "other", "approval"),
                                  ("run-1", "approve", "lower-level")]:  # fmt: skip
        with pytest.raises(one_time.CodeRefused, match="opens only the step"):
            one_time.redeem(journal, token, run_id=run_id, step_path=step, purpose=purpose)
    person = one_time.redeem(journal, token, run_id="run-1", step_path="approve")
    assert person == Person(
        "director-li", "leadership", None, f"one-time-code:{one_time.code_id_for(token)}"
    )
    with pytest.raises(one_time.CodeRefused, match="already used"):
        one_time.redeem(journal, token, run_id="run-1", step_path="approve")
    with pytest.raises(one_time.CodeRefused, match="unknown"):
        one_time.redeem(journal, token + "x", run_id="run-1", step_path="approve")


def test_an_expired_code_is_refused(tmp_path, journal):
    contact = _inventory(tmp_path).contact("director-li")
    token = one_time.issue(journal, "run-1", "approve", contact, valid_for=timedelta(seconds=-1))
    with pytest.raises(one_time.CodeRefused, match="expired"):
        one_time.redeem(journal, token, run_id="run-1", step_path="approve")


def test_two_redeemers_racing_get_one_success(tmp_path, journal):
    contact = _inventory(tmp_path).contact("director-li")
    token = one_time.issue(journal, "run-1", "approve", contact)
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def redeem() -> None:
        start.wait()
        try:
            one_time.redeem(journal, token, run_id="run-1", step_path="approve")
            outcomes.append("ok")
        except one_time.CodeRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
