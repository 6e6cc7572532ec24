"""The SSH transport against real OpenSSH servers started by the tests; no mocks."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lab.sshd import SshServer
from orchestrator.errors import DrError, HostKeyRejected, TransportError
from orchestrator.local_machine import find_free_port
from orchestrator.transports.ssh import RECORD_OUTPUT_LIMIT, SshEndpoint, SshTransport
from tests.support.sshd_fixtures import endpoint_for_host

pytestmark = pytest.mark.integration


# --- helpers -------------------------------------------------------------------------


def accepted_logins(server: SshServer) -> int:
    return server.log_file.read_text().count("Accepted publickey")


def client_port(transport: SshTransport, endpoint: SshEndpoint) -> str:
    """The client's TCP source port as sshd saw it: equal ports = one connection."""
    return transport.run(endpoint, "echo $SSH_CONNECTION").stdout.split()[1]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def pids_running(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split() if alive(int(pid))]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(child) for child in found.stdout.split()]


def fingerprint_of(public_key_file: Path) -> str:
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(public_key_file)], capture_output=True, text=True
    )
    return listed.stdout.split()[1]


def new_client_key(directory: Path) -> Path:
    key = directory / "other_client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def error_chain_text(exc: BaseException) -> str:
    parts = []
    current: BaseException | None = exc
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# --- running commands ----------------------------------------------------------------


def test_run_returns_exit_code_stdout_and_stderr(sshd_server, ssh_transport):
    endpoint = sshd_server.endpoint("db-1")
    result = ssh_transport.run(endpoint, "echo out; echo err >&2; exit 3")
    assert (result.host, result.exited, result.ok) == ("db-1", 3, False)
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.duration_s > 0


def test_non_zero_exit_is_a_result_not_an_error(sshd_server, ssh_transport):
    result = ssh_transport.run(sshd_server.endpoint("db-1"), "false")
    assert result.exited == 1 and not result.ok


def test_exit_124_of_the_command_itself_is_not_mistaken_for_a_timeout(sshd_server, ssh_transport):
    result = ssh_transport.run(sshd_server.endpoint("db-1"), "exit 124", timeout=10)
    assert result.exited == 124


def test_stdin_is_fed_to_the_command_then_closed(sshd_server, ssh_transport):
    endpoint = sshd_server.endpoint("db-1")
    assert ssh_transport.run(endpoint, "cat", stdin="hello\nworld\n").stdout == "hello\nworld\n"
    assert ssh_transport.run(endpoint, "wc -c", stdin=b"\x00\x01\xff").stdout.strip() == "3"


def test_large_stdin_and_output_do_not_deadlock(sshd_server, ssh_transport):
    payload = ("0123456789abcdef" * 4096 + "\n") * 64  # about 4 MiB through `cat` and back
    result = ssh_transport.run(sshd_server.endpoint("db-1"), "cat", stdin=payload, timeout=60)
    assert result.ok and result.stdout == payload


def test_env_values_reach_the_command_verbatim_and_stdin_stays_intact(sshd_server, ssh_transport):
    tricky = 'it\'s "quoted"\n$HOME `id` $(id) \\ 密码 ;|&'
    result = ssh_transport.run(
        sshd_server.endpoint("db-1"),
        'printf "%s|" "$DR_TRICKY" "$DR_PLAIN"; cat',
        env={"DR_TRICKY": tricky, "DR_PLAIN": "x"},
        stdin="first line\nsecond\n",
    )
    assert result.ok, result.stderr
    assert result.stdout == f"{tricky}|x|first line\nsecond\n"


def test_env_secret_never_appears_on_any_command_line(sshd_server, ssh_transport):
    secret = f"pw-{uuid.uuid4().hex}"
    # While the command runs, read every process's argv on the (local) host.
    result = ssh_transport.run(
        sshd_server.endpoint("db-1"),
        "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; echo; echo \"len=${#DR_SECRET}\"",
        env={"DR_SECRET": secret},
    )
    assert f"len={len(secret)}" in result.stdout
    assert secret not in result.stdout.replace(f"len={len(secret)}", "")
    assert secret not in json.dumps(result.to_record())


def test_env_rejects_names_the_shell_cannot_export(sshd_server, ssh_transport):
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        ssh_transport.run(sshd_server.endpoint("db-1"), "true", env={"BAD-NAME": "x"})


def test_record_keeps_the_tail_of_long_output_and_says_so(sshd_server, ssh_transport):
    result = ssh_transport.run(
        sshd_server.endpoint("db-1"), "head -c 100000 /dev/zero | tr '\\0' x; echo END"
    )
    record = result.to_record()
    json.dumps(record)
    assert record["stdout_truncated"] is True and record["stderr_truncated"] is False
    assert len(record["stdout"]) == RECORD_OUTPUT_LIMIT
    assert record["stdout"].endswith("xEND\n")
    assert len(result.stdout) == 100_000 + len("END\n")


# --- timeouts ------------------------------------------------------------------------


def test_timeout_raises_quickly_and_kills_the_remote_command(sshd_server, ssh_transport):
    marker = f"sleep 30.{uuid.uuid4().int % 1000:03d}"
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        ssh_transport.run(sshd_server.endpoint("db-1"), f"{marker}; echo never", timeout=1)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "timed out after 1s" in message
    assert f"db-1 (127.0.0.1:{sshd_server.port})" in message
    assert wait_until(lambda: not pids_running(marker)), "remote command survived"


def test_timeout_kills_a_command_that_ignores_term(sshd_server, ssh_transport):
    marker = f"sleep 31.{uuid.uuid4().int % 1000:03d}"
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        ssh_transport.run(sshd_server.endpoint("db-1"), f"trap '' TERM; {marker}", timeout=1)
    assert time.monotonic() - started < 8
    assert wait_until(lambda: not pids_running(marker)), "remote command survived"


def test_connection_is_usable_after_a_timeout(sshd_server, ssh_transport):
    endpoint = sshd_server.endpoint("db-1")
    with pytest.raises(TransportError):
        ssh_transport.run(endpoint, "sleep 20", timeout=0.5)
    assert ssh_transport.run(endpoint, "echo again").stdout == "again\n"


# --- connection reuse and concurrency ------------------------------------------------


def test_many_commands_share_one_connection(sshd_server, ssh_transport):
    endpoint = sshd_server.endpoint("db-1")
    before = accepted_logins(sshd_server)
    ports = {client_port(ssh_transport, endpoint) for _ in range(5)}
    assert len(ports) == 1
    assert accepted_logins(sshd_server) == before + 1


def test_parallel_commands_from_many_threads_all_succeed_on_one_connection(
    sshd_server, ssh_transport
):
    endpoint = sshd_server.endpoint("db-1")
    before = accepted_logins(sshd_server)

    def job(i: int) -> tuple[str, str]:
        result = ssh_transport.run(endpoint, f"sleep 0.2; echo {i} $SSH_CONNECTION", timeout=30)
        assert result.ok, result.stderr
        number, _, source_port, *_ = result.stdout.split()
        return number, source_port

    # 16 jobs on 8 threads, then 20 at once: more than the 8 sessions allowed per
    # connection, so some queue for a free session instead of failing.
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(16)))
    with ThreadPoolExecutor(max_workers=20) as pool:
        results += list(pool.map(job, range(16, 36)))
    assert [number for number, _ in results] == [str(i) for i in range(36)]
    assert len({port for _, port in results}) == 1
    assert accepted_logins(sshd_server) == before + 1


def test_a_dead_cached_connection_is_replaced_transparently(make_sshd, ssh_transport):
    server = make_sshd()
    endpoint = server.endpoint("db-2")
    first = client_port(ssh_transport, endpoint)
    for connection_process in children(server.pid):  # the per-connection sshd processes
        os.kill(connection_process, 9)
    assert wait_until(lambda: not children(server.pid))
    second = client_port(ssh_transport, endpoint)
    assert second != first
    assert accepted_logins(server) == 2


def test_endpoints_with_different_keys_do_not_share_a_connection(
    sshd_server, ssh_transport, tmp_path
):
    endpoint = sshd_server.endpoint("db-1")
    ssh_transport.run(endpoint, "true")
    wrong = dataclasses.replace(endpoint, key_file=new_client_key(tmp_path))
    with pytest.raises(TransportError, match="authentication"):
        ssh_transport.run(wrong, "true")


# --- host keys -----------------------------------------------------------------------


def test_unknown_host_key_is_refused_naming_known_hosts_and_fingerprint(
    sshd_server, ssh_transport, tmp_path
):
    known_hosts = tmp_path / "known_hosts"
    endpoint = dataclasses.replace(sshd_server.endpoint("db-1"), known_hosts=known_hosts)
    with pytest.raises(HostKeyRejected) as caught:
        ssh_transport.run(endpoint, "true")
    message = str(caught.value)
    assert str(known_hosts) in message
    assert fingerprint_of(sshd_server.host_key_file.with_suffix(".pub")) in message
    assert "ssh-keyscan" in message
    assert not known_hosts.exists()


def test_hashed_known_hosts_entries_are_honoured(sshd_server, ssh_transport, tmp_path):
    hashed = tmp_path / "known_hosts"
    hashed.write_text(sshd_server.known_hosts_file.read_text())
    subprocess.run(["ssh-keygen", "-H", "-f", str(hashed)], check=True, capture_output=True)
    assert hashed.read_text().startswith("|1|")
    endpoint = dataclasses.replace(sshd_server.endpoint("db-1"), known_hosts=hashed)
    assert ssh_transport.run(endpoint, "true").ok


def test_changed_host_key_is_refused_with_both_fingerprints(make_sshd, tmp_path):
    original = make_sshd()
    trusted = tmp_path / "known_hosts"
    trusted.write_text(original.known_hosts_file.read_text())
    old_fingerprint = fingerprint_of(original.host_key_file.with_suffix(".pub"))
    original.stop()
    # Same address and port, new state dir: a "rebuilt" host with a new key.
    impostor = make_sshd(port=original.port)
    new_fingerprint = fingerprint_of(impostor.host_key_file.with_suffix(".pub"))
    for policy in ("strict", "accept-new"):
        endpoint = dataclasses.replace(
            impostor.endpoint("db-1"), known_hosts=trusted, host_key_policy=policy
        )
        with SshTransport() as transport, pytest.raises(HostKeyRejected) as caught:
            transport.run(endpoint, "true")
        message = str(caught.value)
        assert "HOST KEY CHANGED" in message and "man-in-the-middle" in message
        assert old_fingerprint in message and new_fingerprint in message
    assert trusted.read_text() == original.known_hosts_file.read_text()


def test_accept_new_records_an_unknown_key_then_strict_trusts_it(sshd_server, tmp_path):
    known_hosts = tmp_path / "ssh" / "known_hosts"
    endpoint = dataclasses.replace(
        sshd_server.endpoint("db-1"), known_hosts=known_hosts, host_key_policy="accept-new"
    )
    with SshTransport() as transport:
        assert transport.run(endpoint, "true").ok
    expected = f"[127.0.0.1]:{sshd_server.port} {sshd_server.host_public_key_line}\n"
    assert known_hosts.read_text() == expected
    with SshTransport() as transport:
        strict = dataclasses.replace(endpoint, host_key_policy="strict")
        assert transport.run(strict, "true").ok


# --- failures to connect -------------------------------------------------------------


def test_closed_port_fails_fast_naming_host_and_port(sshd_server, ssh_transport):
    port = find_free_port()
    endpoint = dataclasses.replace(sshd_server.endpoint("db-9"), port=port)
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        ssh_transport.run(endpoint, "true")
    assert time.monotonic() - started < 3
    assert not isinstance(caught.value, HostKeyRejected)
    assert f"db-9 (127.0.0.1:{port})" in str(caught.value)
    assert "refused" in str(caught.value)


def test_unresolvable_address_says_so(sshd_server, ssh_transport):
    endpoint = dataclasses.replace(sshd_server.endpoint("db-9"), address="no-such-host.invalid")
    with pytest.raises(TransportError, match=re.escape("cannot resolve no-such-host.invalid")):
        ssh_transport.run(endpoint, "true")


def test_server_that_never_speaks_ssh_times_out_within_connect_timeout(sshd_server, ssh_transport):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; nobody ever sends a banner
        endpoint = dataclasses.replace(
            sshd_server.endpoint("db-9"), port=silent.getsockname()[1], connect_timeout=1
        )
        started = time.monotonic()
        with pytest.raises(TransportError, match="db-9"):
            ssh_transport.run(endpoint, "true")
        assert time.monotonic() - started < 5


def test_wrong_client_key_is_an_authentication_failure(sshd_server, ssh_transport, tmp_path):
    endpoint = dataclasses.replace(sshd_server.endpoint("db-1"), key_file=new_client_key(tmp_path))
    with pytest.raises(TransportError) as caught:
        ssh_transport.run(endpoint, "true")
    assert not isinstance(caught.value, HostKeyRejected)
    assert "authentication as" in str(caught.value)
    assert f"127.0.0.1:{sshd_server.port}" in str(caught.value)


def test_missing_key_file_is_named(sshd_server, ssh_transport, tmp_path):
    endpoint = dataclasses.replace(sshd_server.endpoint("db-1"), key_file=tmp_path / "nope")
    with pytest.raises(TransportError, match=r"nope for db-1 .* does not exist"):
        ssh_transport.run(endpoint, "true")


def test_password_never_appears_in_errors_or_reprs(sshd_server, ssh_transport, tmp_path):
    password = f"pw-{uuid.uuid4().hex}"
    good = dataclasses.replace(sshd_server.endpoint("db-1"), password=password)
    failing = [
        dataclasses.replace(good, key_file=new_client_key(tmp_path)),  # auth fails
        dataclasses.replace(good, port=find_free_port()),  # refused
        dataclasses.replace(good, known_hosts=tmp_path / "empty"),  # unknown host key
    ]
    assert password not in repr(good)
    for endpoint in failing:
        with pytest.raises(TransportError) as caught:
            ssh_transport.run(endpoint, "true")
        assert password not in error_chain_text(caught.value)
    result = ssh_transport.run(good, "echo done")  # key auth works; password unused
    assert password not in json.dumps(result.to_record())


def test_check_reachable(sshd_server, ssh_transport, tmp_path):
    endpoint = sshd_server.endpoint("db-1")
    assert ssh_transport.check_reachable(endpoint) is True
    assert (
        ssh_transport.check_reachable(dataclasses.replace(endpoint, port=find_free_port())) is False
    )
    with pytest.raises(HostKeyRejected):
        ssh_transport.check_reachable(dataclasses.replace(endpoint, known_hosts=tmp_path / "x"))


# --- files ---------------------------------------------------------------------------


def test_put_then_get_round_trips_bytes(sshd_server, ssh_transport, tmp_path):
    endpoint = sshd_server.endpoint("db-1")
    original = tmp_path / "original.bin"
    original.write_bytes(os.urandom(300_000))
    remote = str(tmp_path / "remote" / "copy.bin")
    ssh_transport.run(endpoint, f"mkdir -p {tmp_path / 'remote'}")
    ssh_transport.put(endpoint, original, remote)
    back = tmp_path / "back.bin"
    ssh_transport.get(endpoint, remote, back)
    assert back.read_bytes() == original.read_bytes()
    assert sorted(p.name for p in tmp_path.rglob("*.dr-partial")) == []


def test_get_of_a_missing_remote_file_names_it(sshd_server, ssh_transport, tmp_path):
    missing = str(tmp_path / "not-there")
    with pytest.raises(TransportError, match=re.escape(missing)):
        ssh_transport.get(sshd_server.endpoint("db-1"), missing, tmp_path / "local")
    assert not (tmp_path / "local").exists()


def test_put_into_a_missing_directory_fails_cleanly(sshd_server, ssh_transport, tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("x")
    with pytest.raises(TransportError, match="upload of"):
        ssh_transport.put(sshd_server.endpoint("db-1"), source, str(tmp_path / "no" / "dir"))


# --- the server helper ---------------------------------------------------------------


def test_server_stop_leaves_no_sshd_behind(make_sshd):
    server = make_sshd()
    listener = server.pid
    with SshTransport() as transport:
        transport.run(server.endpoint("db-3"), "true")  # leaves a live session process
        sessions = children(listener)
        assert sessions
        server.stop()
        assert server.pid is None
        assert not alive(listener)
        assert not [pid for pid in sessions if alive(pid)]
    server.stop()  # idempotent


def test_server_start_is_idempotent_and_keeps_its_host_key(make_sshd):
    server = make_sshd()
    pid, key = server.pid, server.host_public_key_line
    server.start()
    assert server.pid == pid
    server.stop()
    server.start()
    assert server.host_public_key_line == key


def test_server_reports_missing_sshd_with_the_install_hint(tmp_path):
    server = SshServer(tmp_path, port=find_free_port(), sshd_binary=tmp_path / "sshd")
    with pytest.raises(DrError, match="apt-get install openssh-server"):
        server.start()


def test_server_refuses_to_report_ready_when_its_port_is_taken(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        server = SshServer(tmp_path, port=squatter.getsockname()[1])
        with pytest.raises(DrError, match="Address already in use"):
            server.start(timeout=5)
    assert server.pid is None


def test_endpoint_for_host_uses_the_servers_keys(sshd_server, ssh_transport):
    endpoint = endpoint_for_host({"name": "dc-a-db", "user": "root"}, sshd_server)
    assert (endpoint.address, endpoint.port) == ("127.0.0.1", sshd_server.port)
    assert ssh_transport.run(endpoint, "echo ok").stdout == "ok\n"


@pytest.fixture
def netns():
    name = f"drtest-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create network namespaces here (needs root)")
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=True)


def test_server_runs_inside_a_network_namespace(make_sshd, netns):
    server = make_sshd(netns=netns)
    listener = server.pid
    assert listener is not None
    # The namespace's loopback is not ours: from the root namespace nothing listens.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0
    inside = subprocess.run(
        ["ip", "netns", "exec", netns, "ssh-keyscan", "-p", str(server.port), "127.0.0.1"],
        capture_output=True,
        text=True,
    )
    assert server.host_public_key_line in inside.stdout, inside.stderr
    server.stop()
    assert not alive(listener)
