"""`dr serve` as people use it over HTTPS: sign-in codes by email, sessions, CSRF, the
approval page deciding a real waiting `dr drill`, and the refusals around all of it."""

from __future__ import annotations

import json
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pexpect
import pytest

from tests.support.console_site import ConsoleSite, make_site, serving
from tests.support.notify_receivers import MailBox

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path: Path, mailbox: tuple[MailBox, int]) -> Iterator[ConsoleSite]:
    box, port = mailbox
    box.clear()
    made = make_site(tmp_path, box, port)
    yield from _with_server(made)


def _with_server(made: ConsoleSite) -> Iterator[ConsoleSite]:
    for _ in serving(made):
        yield made


def client(site: ConsoleSite) -> httpx.Client:
    # Verification is real: the test's own certificate is the only one trusted.
    trusted = ssl.create_default_context(cafile=str(site.certificate))
    return httpx.Client(base_url=site.url, verify=trusted, timeout=30)


def sign_in(site: ConsoleSite, name: str, address: str) -> httpx.Client:
    browser = client(site)
    known = len(site.codes_for(address))
    sent = browser.post("/signin", data={"name": name})
    assert sent.status_code == 200 and 'id="code-sent"' in sent.text
    code = site.wait_for_code(address, known)
    signed = browser.post("/signin/code", data={"code": code})
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    return browser


def csrf(page: str) -> str:
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def start_drill(site: ConsoleSite) -> tuple[pexpect.spawn, str]:
    """A real `dr drill` at a terminal, waiting on its approval step; returns its run id."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "orchestrator.cli.main", "drill", "console-drill", "-i", str(site.inventory),
         "-p", f"effects={site.directory / 'effects.log'}", "--lang", "en"],
        env=site.env,
        encoding="utf-8",
        timeout=90,
        dimensions=(50, 200),
    )  # fmt: skip
    child.expect("waiting for approval by role 'leadership'")
    listed = site.dr("runs", "list", "--json")
    [run] = json.loads(listed.stdout)
    return child, run["id"]


def test_unauthenticated_requests_are_sent_to_sign_in_or_refused(site: ConsoleSite) -> None:
    anonymous = client(site)
    for page in ("/", "/runs/20260101-000000-abcdef", "/approve/some-run/some-step"):
        answer = anonymous.get(page)
        assert answer.status_code == 303 and answer.headers["location"] == "/signin", page
    for data in ("/api/board", "/events"):
        assert anonymous.get(data).status_code == 401, data
    # Deciding needs a session as much as looking does.
    posted = anonymous.post("/approve/some-run/some-step", data={"decision": "approve"})
    assert posted.status_code == 303 and posted.headers["location"] == "/signin"
    page = anonymous.get("/signin")
    assert (
        page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    )
    assert page.headers["referrer-policy"] == "same-origin"


def test_a_code_mailed_to_the_person_signs_them_in_once(site: ConsoleSite) -> None:
    browser = client(site)
    # A name that is no contact gets the same answer, and nobody gets mail.
    stranger = browser.post("/signin", data={"name": "mallory"})
    assert stranger.status_code == 200 and 'id="code-sent"' in stranger.text
    assert site.mailbox.messages == []

    assert browser.post("/signin", data={"name": "director-zhao"}).status_code == 200
    code = site.wait_for_code("zhao@lab.invalid")
    assert site.mailbox.to("li@lab.invalid") == []
    signed = browser.post("/signin/code", data={"code": code})
    cookie = signed.headers["set-cookie"]
    assert signed.status_code == 303
    for flag in ("HttpOnly", "Secure", "SameSite=strict"):
        assert flag in cookie, cookie
    board = browser.get("/")
    assert board.status_code == 200 and '<strong id="who">director-zhao</strong>' in board.text
    assert browser.get("/api/board").json()["runs"] == []

    again = client(site).post("/signin/code", data={"code": code})
    assert again.status_code == 403 and "already used" in again.text
    # The journal holds no code and no session id, only hashes and public ids.
    database = (site.directory / "journal.sqlite3").read_bytes()
    assert code.encode() not in database
    session_id = cookie.split("=", 1)[1].split(";", 1)[0]
    assert session_id.encode() not in database

    signed_out = browser.post("/signout", data={"csrf": csrf(board.text)})
    assert signed_out.status_code == 303
    assert browser.get("/api/board").status_code == 401


def test_a_terminal_person_gets_a_sign_in_link_for_themselves(site: ConsoleSite) -> None:
    made = site.dr("serve", "link", "-i", str(site.inventory))
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    assert link.startswith(f"{site.url}/signin/") and "duty-wang" in made.stderr
    browser = client(site)
    # Opening the link uses nothing (a link previewer may fetch it): the button does.
    assert browser.get(link).status_code == 200
    assert browser.get(link).status_code == 200
    used = browser.post("/signin/code", data={"code": link.rsplit("/", 1)[1]})
    assert used.status_code == 303
    assert '<strong id="who">duty-wang</strong>' in browser.get("/").text


def test_sign_in_attempts_are_limited(site: ConsoleSite) -> None:
    browser = client(site)
    answers = [browser.post("/signin/code", data={"code": f"guess-{n}"}) for n in range(12)]
    assert [a.status_code for a in answers[:10]] == [403] * 10
    assert answers[10].status_code == 429 and answers[11].status_code == 429


def test_forms_need_the_sessions_csrf_token_and_the_consoles_origin(site: ConsoleSite) -> None:
    browser = sign_in(site, "director-zhao", "zhao@lab.invalid")
    no_token = browser.post("/approve/some-run/some-step", data={"decision": "approve"})
    assert no_token.status_code == 403
    board = browser.get("/")
    foreign = browser.post(
        "/approve/some-run/some-step",
        data={"decision": "approve", "csrf": csrf(board.text)},
        headers={"Origin": "https://evil.invalid"},
    )
    assert foreign.status_code == 403 and "cross-site" in foreign.text


def test_approval_on_the_page_unblocks_the_waiting_drill_and_not_by_its_starter(
    site: ConsoleSite,
) -> None:
    child, run_id = start_drill(site)
    try:
        page = f"/approve/{run_id}/leadership-ok"
        # The starter (duty-wang, at this terminal) signs in with a link and may not approve.
        link = site.dr("serve", "link", "-i", str(site.inventory)).stdout.strip()
        starter = client(site)
        starter.post("/signin/code", data={"code": link.rsplit("/", 1)[1]})
        shown = starter.get(page)
        assert shown.status_code == 200 and "Promote the standby" in shown.text
        refused = starter.post(page, data={"decision": "approve", "csrf": csrf(shown.text)})
        assert refused.status_code == 403 and "cannot also approve" in refused.text

        zhao = sign_in(site, "director-zhao", "zhao@lab.invalid")
        shown = zhao.get(page)
        decided = zhao.post(
            page, data={"decision": "approve", "csrf": csrf(shown.text), "note": "go"}
        )
        assert decided.status_code == 303 and decided.headers["location"].startswith("/runs/")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert (site.directory / "effects.log").read_text().split() == ["prepared", "promoted"]
    doc = json.loads(site.dr("runs", "show", run_id, "--json").stdout)
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["leadership-ok"]["result"]["approved_by"] == "director-zhao"
    assert steps["leadership-ok"]["result"]["proof"].startswith("console:")


def test_refusing_on_the_page_stops_the_drill(site: ConsoleSite) -> None:
    child, run_id = start_drill(site)
    try:
        li = sign_in(site, "director-li", "li@lab.invalid")
        page = f"/approve/{run_id}/leadership-ok"
        shown = li.get(page, params={"lang": "zh"})
        assert "领导小组批准切换" in shown.text and "不批准" in shown.text
        li.post(page, data={"decision": "refuse", "csrf": csrf(shown.text)})
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus != 0
    assert (site.directory / "effects.log").read_text().split() == ["prepared"]
    doc = json.loads(site.dr("runs", "show", run_id, "--json").stdout)
    assert doc["status"] == "aborted"
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["leadership-ok"]["status"] == "declined"
    assert steps["leadership-ok"]["result"]["refused_by"] == "director-li"


def test_a_one_time_approval_link_opens_that_step_for_that_person_once(site: ConsoleSite) -> None:
    child, run_id = start_drill(site)
    try:
        # The engine mailed each approver a code with a link to the console.
        token = site.wait_for_code("zhao@lab.invalid")
        mails = [
            m.get_body(preferencelist=("plain",)).get_content()
            for m in site.mailbox.to("zhao@lab.invalid")
        ]  # type: ignore[union-attr]
        assert any(f"{site.url}/approve/{token}" in text for text in mails)
        phone = client(site)
        opened = phone.post(f"/approve/{token}")
        assert opened.status_code == 303
        assert opened.headers["location"] == f"/approve/{run_id}/leadership-ok"
        # That session opens this step only: not the overview.
        assert phone.get("/").status_code == 303
        assert phone.get("/api/board").status_code == 401
        shown = phone.get(opened.headers["location"])
        assert '<strong id="who">director-zhao</strong>' in shown.text
        again = client(site).post(f"/approve/{token}")
        assert again.status_code == 403 and "already used" in again.text
        phone.post(
            opened.headers["location"], data={"decision": "approve", "csrf": csrf(shown.text)}
        )
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    doc = json.loads(site.dr("runs", "show", run_id, "--json").stdout)
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["leadership-ok"]["result"]["proof"].startswith("one-time-code:")


def test_the_board_shows_an_open_incident_with_its_deadlines(site: ConsoleSite) -> None:
    opened = site.dr(
        "incident", "open", "-i", str(site.inventory), "--category", "system",
        "--summary", "credit reporting down", "--level", "orange",
        # Graded (III) at once: the regulator's reports are owed by graded incidents only.
        "--impact", "considerable-damage",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    board = sign_in(site, "director-li", "li@lab.invalid").get("/api/board").json()
    [incident] = board["incidents"]
    assert incident["level"] == "orange" and incident["summary"] == "credit reporting down"
    keys = [d["key"] for d in incident["deadlines"]]
    assert "regulator-initial" in keys
    # The credit system is down today: today's submission is at risk.
    assert any(k.startswith("credit-submission-") for k in keys)


def test_the_board_shows_each_sets_backup_age_against_its_rpo_and_last_restore_test(
    tmp_path: Path, mailbox: tuple[MailBox, int]
) -> None:
    box, port = mailbox
    box.clear()
    made = make_site(tmp_path, box, port)
    for step in (("backup", "init"), ("backup", "run"), ("restore-test",)):
        done = made.dr(*step, "credit", "-i", str(made.inventory))
        assert done.returncode == 0, done.stderr
    for _ in serving(made):
        board = sign_in(made, "director-li", "li@lab.invalid").get("/api/board").json()
    [credit] = board["backups"]
    assert credit["name"] == "credit" and credit["repository_up"]
    assert 0 <= credit["age_seconds"] < 300 and credit["rpo_seconds"] == 3600
    assert credit["restore_test_ok"] is True and credit["restore_test_at"] is not None


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        # Refused before any socket is made: nothing is bound, nothing is sent.
        (("--listen", "8.8.4.4:8443"), "not a private (intranet) or loopback address"),
        (("--listen", "10.99.0.1:8443", "--insecure-http"), "only loopback may"),
    ],
)
def test_serve_refuses_public_addresses_and_plain_http_off_loopback(
    tmp_path: Path, mailbox: tuple[MailBox, int], extra: tuple[str, ...], says: str
) -> None:
    made = make_site(tmp_path, mailbox[0], mailbox[1])
    refused = made.dr("serve", "-i", str(made.inventory), *extra, timeout=60)
    assert refused.returncode == 2 and says in refused.stderr.replace("\n", " ")
