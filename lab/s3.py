"""The lab's S3 endpoint: moto in server mode behind switchable proxies (plain and TLS).

Clients (the inventory, restic, boto3) only ever use the proxy port (19000 by default);
moto itself listens on a second loopback port. The `s3-down` fault stops the proxy, so
new connections are refused at once and open ones are cut, while moto, and every object
in its memory, keeps running; `heal` starts the proxy again and the same data is back.

Why not stop moto itself: moto keeps all state in memory, and its only way to rebuild
it, the request recorder (`/moto-api/recorder/`), logs every request body base64-encoded
and replays them all: unbounded for backup traffic. The proxy looks the same from
outside (connection refused) with nothing to rebuild.

Credentials are real: after moto starts we create an IAM user with an access key and
then switch moto's IAM checks on (`/moto-api/reset-auth`), so a wrong key or a wrong
signature is refused with 403, as it would be on a real S3 service. The key is written
to `STATE/secrets/s3_access_key_id` and `s3_secret_access_key` (0600), which the
inventory references as `file:` secrets.

pgBackRest speaks S3 over TLS only, with the certificate checked, and it runs inside
the hosts' namespaces too (archive_command, restore_command), where 127.0.0.1 is not
this endpoint. So a third process, the TLS front (`tls_address`, in the lab the
management bridge's 10.77.0.1, port 19443), takes TLS connections there and forwards
them to moto; its certificate comes from the lab's CA (lab/lab_ca.py, which says why
the address is a DNS name in it). `s3-down` stops it with the plain proxy.

restic 0.14 talks to it as `s3:http://127.0.0.1:PORT/BUCKET[/PREFIX]` with
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its environment: an http endpoint that is
not AWS makes it use path-style addressing, and it asks moto for the bucket's region, so
no region setting is needed. Buckets need names of at least three characters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from lab import processes
from lab.errors import LabError
from lab.lab_ca import ensure_server_certificate
from orchestrator.local_machine import process_is_running, wait_until

LISTEN_ADDRESS = "127.0.0.1"
REGION = "us-east-1"
DEFAULT_LIFETIME_S = 6 * 3600
_IAM_USER = "dr-lab-backup"
# Only used for the few IAM calls made before moto checks credentials at all.
_BOOTSTRAP_KEY = ("bootstrap", "bootstrap")
_CHUNK = 64 * 1024


class _Daemon:
    """One of our two processes, `python -m lab.s3 ROLE ...`, found again from
    any process through the record in its pid file."""

    def __init__(self, state_dir: Path, role: str, args: list[str]) -> None:
        self.role = role
        # The state directory in the arguments also lets `dr lab down` find strays by path.
        self.args = [role, "--state", str(state_dir), *args]
        self.record = state_dir / f"{role}.json"
        self.log_file = state_dir / f"{role}.log"

    def _process(self) -> processes.LabProcess | None:
        return processes.load_record(self.record)

    @property
    def pid(self) -> int | None:
        process = self._process()
        # A recycled pid runs some other command line: it is not ours.
        return process.pid if process is not None and processes.is_ours(process) else None

    def start(self, ready_line: bytes, timeout: float, *extra: str) -> None:
        """Start it and wait until it logs `ready_line`, which it only does once it listens."""
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        process = processes.start(
            f"s3-{self.role}",
            [sys.executable, "-m", __name__, *self.args, *extra],
            # The trailing blank keeps port 1900 from matching a command with port 19001.
            marker=" ".join([__name__, *self.args, ""]),
            log=self.log_file,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        processes.save_record(self.record, process)

        def ready() -> bool:
            with self.log_file.open("rb") as log:
                log.seek(offset)
                return ready_line in log.read() or not process_is_running(process.pid)

        wait_until(ready, timeout=timeout)
        if self.pid is None or not ready():
            tail = self.log_file.read_text(errors="replace").splitlines()[-15:]
            self.stop()
            raise LabError(
                f"the lab's S3 {self.role} did not start within {timeout:g}s; "
                f"see {self.log_file}:\n" + "\n".join(tail)
            )

    def stop(self) -> None:
        processes.stop_recorded(self.record)


class S3Lab:
    """The lab's S3 service: `start`/`stop` for `dr lab up`/`down`, `down`/`up` for the
    `s3-down` fault and its heal. All state lives in `state_dir`."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 19000,
        backend_port: int | None = None,
        secrets_dir: Path | None = None,
        lifetime: float = DEFAULT_LIFETIME_S,
        tls_address: str | None = None,
        tls_port: int | None = None,
        ca_dir: Path | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.port = port
        self.backend_port = backend_port if backend_port is not None else port + 1
        self.lifetime = lifetime
        self.secrets_dir = secrets_dir or state_dir / "secrets"
        self.access_key_file = self.secrets_dir / "s3_access_key_id"
        self.secret_key_file = self.secrets_dir / "s3_secret_access_key"
        self._down_marker = state_dir / "s3-down"
        self._until_file = state_dir / "until"
        self._moto = _Daemon(state_dir, "moto", ["--port", str(self.backend_port)])
        self._proxy = _Daemon(
            state_dir, "proxy", ["--port", str(port), "--target", str(self.backend_port)]
        )
        # The TLS front (pgBackRest's way in), when the lab gives it an address.
        self.tls_address = tls_address
        self.tls_port = tls_port if tls_port is not None else port + 443
        self.ca_dir = ca_dir or state_dir / "ca"
        self._tls: _Daemon | None = None
        if tls_address is not None:
            self._tls = _Daemon(
                state_dir,
                "tls",
                [
                    "--port", str(self.tls_port), "--address", tls_address,
                    "--target", str(self.backend_port),
                    "--cert", str(state_dir / "tls" / "s3-tls-cert.pem"),
                    "--key", str(state_dir / "tls" / "s3-tls-key.pem"),
                ],
            )  # fmt: skip

    @property
    def endpoint_url(self) -> str:
        return f"http://{LISTEN_ADDRESS}:{self.port}"

    @property
    def tls_endpoint(self) -> str | None:
        """HOST:PORT of the TLS front, as pgBackRest's repo-s3-endpoint takes it."""
        return None if self.tls_address is None else f"{self.tls_address}:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        """The lab CA that signed the TLS front's certificate (public)."""
        return self.ca_dir / "lab-ca.pem"

    @property
    def is_down(self) -> bool:
        """The `s3-down` fault is in force (until `up()`)."""
        return self._down_marker.exists()

    @property
    def pids(self) -> dict[str, int | None]:
        pids = {"moto": self._moto.pid, "proxy": self._proxy.pid}
        if self._tls is not None:
            pids["tls"] = self._tls.pid
        return pids

    def status(self) -> dict[str, Any]:
        pids = self.pids
        state = "stopped" if pids["moto"] is None else "down" if self.is_down else "up"
        if state == "up" and None in (pids["proxy"], pids.get("tls", 0)):
            state = "proxy missing"  # crashed or killed from outside; `dr lab up` restarts it
        status: dict[str, Any] = {"endpoint": self.endpoint_url, "state": state, "pids": pids}
        if self.tls_endpoint is not None:
            status["tls_endpoint"] = f"https://{self.tls_endpoint}"
        return status

    def start(self, timeout: float = 30) -> bool:
        """Run moto and (unless `s3-down` is in force) the proxy; idempotent.

        Returns True when a fresh, empty moto was started: its buckets must be provisioned
        again, and the credentials in the secrets files are new."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = self._moto.pid is None
        if fresh:
            until = time.time() + self.lifetime
            self._until_file.write_text(f"{until}\n")
            self._moto.start(b"Running on", timeout, "--until", str(until))
            try:
                self._create_credentials()
            except Exception:
                self._moto.stop()
                raise
        if not self.is_down:
            self.up(timeout)
        return fresh

    def stop(self) -> None:
        """Stop every process, also when another process started them; idempotent."""
        for front in self._fronts:
            front.stop()
        self._moto.stop()
        self._down_marker.unlink(missing_ok=True)

    def down(self) -> None:
        """The `s3-down` fault: both endpoints refuse connections; moto keeps the data."""
        self._down_marker.touch()
        for front in self._fronts:
            front.stop()

    def up(self, timeout: float = 10) -> None:
        """Heal `s3-down`: the endpoints answer again, with the data they had."""
        if self._moto.pid is None:
            raise LabError("the lab's S3 server (moto) is not running; run `dr lab up` first")
        self._down_marker.unlink(missing_ok=True)
        until = self._until_file.read_text().strip()
        if self._tls is not None and self.tls_address is not None:
            ensure_server_certificate(self.ca_dir, self.state_dir / "tls", self.tls_address)
        for front in self._fronts:
            if front.pid is None:
                front.start(b"listening", timeout, "--until", until)

    @property
    def _fronts(self) -> list[_Daemon]:
        """What clients connect to: the plain proxy, and the TLS front if there is one."""
        return [self._proxy] + ([self._tls] if self._tls is not None else [])

    def credentials(self) -> tuple[str, str]:
        try:
            return (
                self.access_key_file.read_text().strip(),
                self.secret_key_file.read_text().strip(),
            )
        except OSError as error:
            raise LabError(
                f"the lab's S3 credentials are missing ({error}); run `dr lab up`"
            ) from None

    def restic_env(self) -> dict[str, str]:
        """The environment restic needs besides its password file."""
        key_id, secret = self.credentials()
        return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}

    def restic_repository(self, bucket: str, prefix: str = "") -> str:
        return f"s3:{self.endpoint_url}/{bucket}" + (f"/{prefix.strip('/')}" if prefix else "")

    def client(self) -> Any:
        """A boto3 S3 client with the lab's credentials that gives up fast when S3 is down."""
        return _client("s3", self.endpoint_url, self.credentials())

    def provision_bucket(self, name: str, *, versioning: bool = True) -> None:
        """Create bucket `name` unless it exists, with versioning as asked; idempotent."""
        s3 = self.client()
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name)
        status = "Enabled" if versioning else "Suspended"
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})

    def _create_credentials(self) -> None:
        backend = f"http://{LISTEN_ADDRESS}:{self.backend_port}"
        iam = _client("iam", backend, _BOOTSTRAP_KEY)
        iam.create_user(UserName=_IAM_USER)
        policy = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        iam.put_user_policy(
            UserName=_IAM_USER,
            PolicyName="lab-s3",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
        )
        key = iam.create_access_key(UserName=_IAM_USER)["AccessKey"]
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path, value in (
            (self.access_key_file, key["AccessKeyId"]),
            (self.secret_key_file, key["SecretAccessKey"]),
        ):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # the file may predate us with looser permissions
            with os.fdopen(fd, "w") as secret:
                secret.write(value + "\n")
        # From now on every request must be signed with a key moto knows.
        # A form content type would make moto's framework swallow the body: send plain text.
        request = urllib.request.Request(
            f"{backend}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5):
                pass
        except (OSError, urllib.error.URLError) as error:
            raise LabError(f"could not switch on the lab S3 server's IAM checks: {error}") from None


def _client(service: str, endpoint: str, key: tuple[str, str]) -> Any:
    # Path-style like restic; few retries and a short connect timeout so that `s3-down`
    # shows as an error within seconds, not after minutes of backing off.
    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=2,
        read_timeout=30,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=config,
    )


# --- the lab processes themselves --------------------------------------------------------


def _exit_at(until: float) -> None:
    """Every lab process is bounded: end this one at `until` (epoch seconds)."""
    timer = threading.Timer(max(0.0, until - time.time()), os.kill, (os.getpid(), signal.SIGTERM))
    timer.daemon = True
    timer.start()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # pass the half-close on; the reply may still be coming
    except OSError:
        # One side broke: closing this side ends the other direction's read as well, so
        # moto is not left holding a connection nobody will use again.
        writer.close()


async def _forward(
    target_port: int, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
) -> None:
    try:
        server_r, server_w = await asyncio.open_connection(LISTEN_ADDRESS, target_port)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))
    for writer in (server_w, client_w):
        writer.close()


async def _forward_tls(
    target_port: int, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
) -> None:
    """One TLS client to moto. moto ends every answer by closing its connection; the
    client then hears a TLS close_notify at once (asyncio sends it on close): without one,
    OpenSSL 3 (pgBackRest's) takes the end of the answer for a truncation attack."""
    try:
        server_r, server_w = await asyncio.open_connection(LISTEN_ADDRESS, target_port)
    except OSError:
        client_w.close()
        return
    upstream = asyncio.create_task(_pipe(client_r, server_w))
    await _pipe(server_r, client_w)
    client_w.close()
    with contextlib.suppress(OSError, asyncio.TimeoutError, ssl.SSLError):
        await asyncio.wait_for(client_w.wait_closed(), timeout=5)
    upstream.cancel()
    server_w.close()


async def _proxy(
    port: int, target_port: int, until: float, *, address: str = LISTEN_ADDRESS,
    tls: ssl.SSLContext | None = None,
) -> None:  # fmt: skip
    forward = _forward if tls is None else _forward_tls
    server = await asyncio.start_server(
        lambda r, w: forward(target_port, r, w), address, port, reuse_address=True, ssl=tls
    )
    scheme = "https" if tls is not None else "http"
    print(f"listening on {scheme}://{address}:{port}, forwarding to port {target_port}", flush=True)
    async with server:
        await asyncio.sleep(max(0.0, until - time.time()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.s3")
    parser.add_argument("role", choices=["moto", "proxy", "tls"])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", type=int)
    parser.add_argument("--address", default=LISTEN_ADDRESS)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--until", type=float, required=True)
    args = parser.parse_args(argv)
    if args.role == "proxy":
        asyncio.run(_proxy(args.port, args.target, args.until))
        return
    if args.role == "tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        asyncio.run(_proxy(args.port, args.target, args.until, address=args.address, tls=context))
        return
    from moto.server import main as moto_main

    _exit_at(args.until)  # moto turns SIGTERM into a clean exit
    moto_main(["--host", LISTEN_ADDRESS, "--port", str(args.port)])


if __name__ == "__main__":
    main()
