"""How a takeover verifies the service end to end: the pair's `probe:` from the inventory.

Three kinds (orchestrator/inventory/probes.py): `http` GETs a health URL, `sql` runs one
read-only query in a read-only transaction, `test-write` writes through a designated
test account and reads the row back, and the service must answer that the row is a
test. None of them writes business data, which on a real credit system would be
reported to the credit reference centre; only a drill inventory may keep a plain write.

HTTP probes run one small script (below) either on a branch host over SSH (the service as
a branch sees it, through the VIP) or on this machine through `ctx.local`: the same
code from both vantage points, journaled like every other command. Every verdict starts
with `[probe: KIND]`, and the kind is kept as the fact `probe_kind`.
"""

from __future__ import annotations

import json
import shlex
import sys
from ipaddress import ip_interface
from typing import TYPE_CHECKING, Any

from orchestrator.errors import HostKeyRejected, StepFailed, TransportError
from orchestrator.inventory import resolve_secret
from orchestrator.inventory.probes import HttpProbe, SqlProbe, TestWriteProbe
from orchestrator.postgresql import read_only
from orchestrator.postgresql.errors import PostgresError
from orchestrator.runbook import Verdict
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair

# One HTTP request's budget: a dead VIP costs this much per branch and per poll.
REQUEST_TIMEOUT_S = 2.0
# The whole script over SSH: connecting, python3 starting, up to three requests.
SCRIPT_TIMEOUT_S = 20.0

# GET the URL; for a test write, POST through the test account and read the row back.
# Prints one JSON object. Arguments: one JSON object (argv[1]).
PROBE_SCRIPT = r"""
import json, sys, urllib.error, urllib.request
args = json.loads(sys.argv[1])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def call(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    head = {"Content-Type": "application/json"}
    head.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=head)
    try:
        with opener.open(req, timeout=args["timeout"]) as r:
            return r.status, r.read(65536)
    except urllib.error.HTTPError as e:
        return e.code, e.read(65536)
    except (OSError, ValueError) as e:
        return None, str(e).encode()
def as_json(raw):
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
out = {}
out["status"], raw = call("GET", args["url"])
out["body"] = raw.decode("utf-8", "replace")[:2000]
w = args.get("write")
if w and out["status"] == 200:
    headers = {w["header"]: w["account"]} if w.get("account") else {}
    out["write"], raw = call("POST", w["url"], w["body"], headers)
    answer = as_json(raw)
    out["id"], out["write_is_test"] = answer.get("id"), answer.get("is_test")
    if out["write"] == 201 and answer.get("id") is not None:
        out["read"], raw = call("GET", w["url"].rstrip("/") + "/" + str(answer["id"]))
        out["read_is_test"] = as_json(raw).get("is_test")
print(json.dumps(out))
"""


def kind_of(pair: HostPair) -> str:
    return pair.probe.kind


def service_url(pair: HostPair) -> str:
    if pair.service_url is None:
        raise StepFailed(
            f"host pair {pair.name} has no service_url; its {pair.probe.kind} probe needs one"
        )
    return str(pair.service_url)


def health_arguments(pair: HostPair) -> dict[str, Any]:
    """The script's arguments for a plain GET of the pair's health URL."""
    return {"url": service_url(pair), "timeout": REQUEST_TIMEOUT_S}


def script_arguments(pair: HostPair) -> dict[str, Any]:
    """The script's arguments for the pair's http or test-write probe."""
    probe = pair.probe
    if isinstance(probe, HttpProbe):
        return {"url": str(probe.url or service_url(pair)), "timeout": REQUEST_TIMEOUT_S}
    if isinstance(probe, TestWriteProbe):
        health = service_url(pair)
        origin = health.removesuffix("/health").rstrip("/")
        write = {
            "url": str(probe.write_url or f"{origin}/loans"),
            "body": {**probe.body, **({"branch": probe.account} if probe.account else {})},
            "header": probe.account_header,
            "account": probe.account,
        }
        return {"url": health, "timeout": REQUEST_TIMEOUT_S, "write": write}
    raise StepFailed(f"host pair {pair.name}: a {probe.kind} probe runs no HTTP script")


def judge(pair: HostPair, out: dict[str, Any]) -> Verdict:
    """Whether the script's output is what the pair's probe expects. A test write the
    service did not mark as a test stops the run: polling would write again."""
    probe = pair.probe
    status = out.get("status")
    if isinstance(probe, HttpProbe):
        if status != probe.expect_status:
            return Verdict(
                False,
                Text(
                    zh=f"GET 返回 {status}，应为 {probe.expect_status}",
                    en=f"GET answered {status}, expected {probe.expect_status}",
                ),
            )
        if probe.expect_body is not None and probe.expect_body not in str(out.get("body", "")):
            return Verdict(
                False,
                Text(
                    zh=f"GET 返回 {status}，但内容中没有 {probe.expect_body!r}",
                    en=f"GET answered {status} without {probe.expect_body!r}",
                ),
            )
        return Verdict(True, Text(zh=f"GET 返回 {status}", en=f"GET answered {status}"))
    if not isinstance(probe, TestWriteProbe):
        raise StepFailed(f"host pair {pair.name}: a {probe.kind} probe runs no HTTP script")
    if status != 200 or out.get("write") != 201 or out.get("read") != 200:
        return Verdict(
            False,
            Text(
                zh=f"健康检查 HTTP {status}，写入 HTTP {out.get('write')}，"
                f"读回 HTTP {out.get('read')}",
                en=f"health {status}, write {out.get('write')}, read back {out.get('read')}",
            ),
        )
    if probe.account is not None and not (out.get("write_is_test") and out.get("read_is_test")):
        raise StepFailed(
            f"the service wrote record {out.get('id')} through the test account "
            f"{probe.account} but did not mark it as a test (is_test): remove that record "
            "and make the service flag the account's writes, or use kind: http or sql"
        )
    marked = "a test record" if probe.account is not None else "a record"
    marked_zh = "一条测试记录" if probe.account is not None else "一条记录"
    return Verdict(
        True,
        Text(
            zh=f"已写入{marked_zh}（{out.get('id')}）并读回",
            en=f"wrote {marked} ({out.get('id')}) and read it back",
        ),
    )


def run_script(ctx: StepContext, where: Host | None, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run the probe script on `where` over SSH, or on this machine when None; its JSON
    output, or {} when the host could not be asked or printed nothing readable."""
    encoded = json.dumps(arguments)
    try:
        if where is None:
            result = ctx.local(
                [sys.executable, "-c", PROBE_SCRIPT, encoded], warn=True, timeout=SCRIPT_TIMEOUT_S
            )
        else:
            command = f"python3 -c {shlex.quote(PROBE_SCRIPT)} {shlex.quote(encoded)}"
            result = ctx.ssh(where, command, warn=True, timeout=SCRIPT_TIMEOUT_S)
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return {}
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    return data if isinstance(data, dict) else {}


def database_server(pair: HostPair) -> read_only.Server:
    """The pair's database at the VIP (wherever the service is, its database is)."""
    database = pair.database
    if database is None:
        raise StepFailed(f"host pair {pair.name} has no database; its sql probe needs one")
    return read_only.Server(
        host=str(ip_interface(str(pair.vip)).ip),
        port=database.port,
        dbname=database.name,
        user=database.user,
        password=resolve_secret(database.password) if database.password is not None else None,
        sslmode=database.sslmode,
        sslrootcert=str(database.sslrootcert) if database.sslrootcert is not None else None,
    )


def sql_verdict(pair: HostPair) -> Verdict:
    probe = pair.probe
    assert isinstance(probe, SqlProbe)
    server = database_server(pair)
    try:
        row = read_only.first_row(server, probe.query, timeout_s=int(REQUEST_TIMEOUT_S) + 1)
    except PostgresError as err:
        return Verdict(False, Text(zh=f"只读查询失败：{err.message}", en=err.message))
    where = f"{server.dbname} at {server.host}:{server.port}"
    where_zh = f"{server.host}:{server.port} 上的 {server.dbname}"
    if row is None:
        return Verdict(
            False,
            Text(
                zh=f"只读查询在 {where_zh} 没有返回任何行",
                en=f"the read-only query returned no row from {where}",
            ),
        )
    return Verdict(
        True,
        Text(
            zh=f"只读查询在 {where_zh} 返回了一行",
            en=f"a read-only query returned a row from {where}",
        ),
    )


def verify_service(
    ctx: StepContext, pair: HostPair, branches: list[Host], *, every_branch: bool = False
) -> Verdict:
    """The end-to-end check of a takeover by the pair's probe: from the orchestrator, or
    from the branches (any one, or `every_branch`)."""
    probe = pair.probe
    if ctx.fact("probe_kind") != probe.kind:
        ctx.remember("probe_kind", probe.kind)
    verdict = _verdict(ctx, pair, branches, every_branch=every_branch)
    return Verdict(
        verdict.ok,
        Text(
            zh=f"[探测方式：{probe.kind}] {verdict.sentence('zh')}",
            en=f"[probe: {probe.kind}] {verdict.sentence('en')}",
        ),
    )


def _verdict(
    ctx: StepContext, pair: HostPair, branches: list[Host], *, every_branch: bool
) -> Verdict:
    probe = pair.probe
    if isinstance(probe, SqlProbe):
        verdict = sql_verdict(pair)
        ctx.record("probe", {"kind": "sql", "query": probe.query, "ok": verdict.ok})
        return verdict
    arguments = script_arguments(pair)
    if probe.vantage == "orchestrator":
        return judge(pair, run_script(ctx, None, arguments))
    if not branches:
        return Verdict(
            False,
            Text(
                zh="没有可用来探测的网点主机（参数 branches）",
                en="no branch host to probe from (param branches)",
            ),
        )
    failing: list[Text] = []
    for branch in branches:
        out = run_script(ctx, branch, arguments)
        verdict = judge(pair, out) if out else Verdict(False, Text(zh="无应答", en="no answer"))
        if verdict.ok and not every_branch:
            return Verdict(
                True,
                Text(
                    zh=f"{branch.name}：{verdict.sentence('zh')}",
                    en=f"{branch.name}: {verdict.sentence('en')}",
                ),
            )
        if not verdict.ok:
            failing.append(
                Text(
                    zh=f"{branch.name}（{verdict.sentence('zh')}）",
                    en=f"{branch.name} ({verdict.sentence('en')})",
                )
            )
    if failing:
        return Verdict(
            False,
            Text(
                zh="未通过：" + "；".join(f.zh for f in failing),
                en="failing: " + "; ".join(f.en for f in failing),
            ),
        )
    return Verdict(
        True,
        Text(zh=f"{len(branches)} 个网点均通过", en=f"{len(branches)} branch(es) pass"),
    )
