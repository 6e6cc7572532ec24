"""`dr lab up|down|status`: builds the drill lab from its parts and takes it all down again.

Each part is a real program with its own module (network, sshd, PostgreSQL, the credit
service and its observers, NUT, the generator, S3); this module only puts them
together in order, records what it started, and undoes it.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import credit_reporting, faults, host_machine, mailroom, pitr, processes, topology
from lab.errors import LabError
from lab.lab_inventory import (
    GENSET_PORT,
    GENSET_WARMUP_S,
    MAIL_PORT,
    PITR_BUCKET,
    S3_PORT,
    S3_TLS_PORT,
    UPS_PORT,
)
from lab.lab_inventory import render as render_inventory
from lab.postgres import Endpoint, PostgresServer
from lab.state import LabManifest, LabState
from lab.storage_faults import mount_small_disk
from lab.topology import LabTopology
from orchestrator.local_machine import wait_until

if TYPE_CHECKING:
    # Imported where used: `dr-lab-host` (host_control) loads this module for every
    # command a runbook sends a lab host, and boto3, paramiko and pymodbus are slow to
    # load (bench/line_failover.py times a runbook that sends lab hosts such commands).
    from lab.genset import GensetLab
    from lab.s3 import S3Lab
    from lab.sshd import SshServer
    from lab.ups import UpsLab

Progress = Callable[[str], None]

# Every lab process stops by itself after this long, even if nobody runs `dr lab down`.
LIFETIME_S = 6 * 3600
LOADGEN_RATE = 5
# Report-message files of a few hours of load fit in this (tmpfs, so RAM) with room left.
DATA_DISK_MB = 256
DATA_HOSTS = ("dc-a", "dc-b", "backup")
S3_BUCKET = "credit-backups"
PROBE_INTERVAL_S = 0.1
SECRETS = (
    "postgres_password",
    "credit_app_password",
    "replicator_password",
    "ups_password",
    "restic_password",
    "pgbackrest_cipher_pass",
    "alerts_token",
)


class Lab:
    def __init__(self, state: LabState | None = None, progress: Progress | None = None) -> None:
        self.state = state or LabState()
        self.progress = progress or (lambda _message: None)

    # ---- up ------------------------------------------------------------------------

    def up(self, branches: int = 2, loans: int = 10_000) -> LabManifest:
        host_machine.require_root()
        host_machine.require_programs()
        manifest = self.state.load()
        if manifest.ready and manifest.branches != branches:
            raise LabError(
                f"a lab with {manifest.branches} branches is up; take it down with "
                f"`dr lab down` before building one with {branches}"
            )
        manifest.branches, manifest.loans, manifest.ready = branches, loans, False
        self.state.save(manifest)
        topo = LabTopology(branches=branches)
        self._prepare_state_dir()
        self._install_host_control()
        # First: each host's archiving settings come from its credit-pitr set.
        self.state.inventory_file.write_text(render_inventory(topo, self.state))
        self.progress("network namespaces, switches and lines")
        topology.build(topo)
        # The data disks before sshd: a program started over SSH (a runbook's
        # service-start) lives in sshd's mount namespace, which sees only the mounts made
        # before sshd started; later ones stay invisible to it and it would write its
        # report messages under the disk, where nothing else looks.
        self._mount_data_disks()
        self.progress("sshd on every host")
        self._start_sshd(topo)
        self.progress("S3 (and its TLS front, for pgBackRest)")
        self._start_s3()
        self.progress("PostgreSQL primary (dc-a), archiving, and streaming standby (dc-b)")
        self._start_database(topo)
        self._load_credit_data(loans, manifest)
        # The first backup takes seconds of waiting (checkpoint, WAL archived) per
        # repository: it runs while the rest of the lab is started.
        backup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab-first-backup")
        first_backup = backup.submit(pitr.first_backup, self.state, self.progress)
        backup.shutdown(wait=False)
        topology.add_vip(topo, "dc-a")
        self.progress("credit service, load generator and probers")
        self._start_service(topo, manifest, "dc-a")
        # Observers start once the service answers, so a lab's birth is not an "outage".
        _wait_healthy(f"http://{topo.mgmt_address('dc-a')}:{topo.service_port}/health")
        self._start_observers(topo, manifest)
        for name, argv in credit_reporting.programs(self.state, LIFETIME_S).items():
            self._ensure_process(manifest, name, argv, netns=None)
        self._ensure_process(
            manifest, "mailroom", mailroom.argv(self.state.mail, MAIL_PORT, LIFETIME_S), netns=None
        )
        self.progress("UPS (NUT) and generator (Modbus)")
        self.ups().start()
        self.genset().start()
        first_backup.result()
        manifest.ready = True
        self.state.save(manifest)
        return manifest

    # ---- down ----------------------------------------------------------------------

    def down(self) -> list[str]:
        """Remove everything; works on a half-built or crashed lab, and when none exists."""
        host_machine.require_root()
        removed: list[str] = []
        manifest = self.state.load()
        for name, process in manifest.processes.items():
            if processes.is_ours(process):
                processes.stop(process)
                removed.append(f"process {name} ({process.pid})")
        for part in self._root_namespace_parts():
            part.stop()
        removed += topology.teardown()
        for leftover in host_machine.lab_processes_by_path(self.state.root):
            processes.terminate([leftover])
            removed.append(f"stray process {leftover}")
        host_machine.unmount_under(self.state.root)
        if self.state.root.exists():
            shutil.rmtree(self.state.root)
            removed.append(f"state {self.state.root}")
        return removed

    # ---- parts ---------------------------------------------------------------------

    def _prepare_state_dir(self) -> None:
        # 0711: the postgres account must pass through to its data directories.
        for directory in (self.state.root, self.state.root / "hosts"):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o711)
        for name in SECRETS:
            if not (self.state.secrets / name).exists():
                self.state.write_secret(name, secrets.token_urlsafe(18))
        key = self.state.client_key
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "dr-lab-orchestrator",
                    "-f",
                    str(key),
                ],
                check=True,
            )

    def sshd(self, topo: LabTopology, host: str) -> SshServer:
        from lab.sshd import SshServer

        return SshServer(
            self.state.host_dir(host) / "sshd",
            port=22,
            listen_address=topo.mgmt_address(host),
            netns=topo.namespace(host),
            authorized_keys=[self.state.client_key.with_suffix(".pub")],
        )

    def _start_sshd(self, topo: LabTopology) -> None:
        lines = []
        for host in topo.hosts:
            server = self.sshd(topo, host)
            server.start()
            lines.append(f"{topo.mgmt_address(host)} {server.host_public_key_line}")
        self.state.known_hosts.write_text("\n".join(lines) + "\n")

    def postgres(self, topo: LabTopology, host: str) -> PostgresServer:
        return PostgresServer(
            self.state.pg_data_dir(host),
            port=5432,
            listen_address="*",
            netns=topo.namespace(host),
            name=host,
            superuser_password=self.state.secret("postgres_password"),
            # the management and DC LANs, and the host itself (the credit service)
            allowed_networks=["10.77.0.0/23", "127.0.0.1/32"],
            archiving=lambda: pitr.archive_settings(self.state, host),
        )

    def _start_database(self, topo: LabTopology) -> None:
        primary = self.postgres(topo, "dc-a")
        primary.init()
        primary.start()
        primary.create_role("credit_app", self.state.secret("credit_app_password"))
        primary.create_role(
            "replicator", self.state.secret("replicator_password"), replication=True
        )
        # rebuild-standby rewinds an old primary from the new one as this role
        primary.allow_rewind("replicator")
        primary.create_database("credit", owner="credit_app")
        # Before anything is written: the primary archives from its first segment on.
        pitr.create_stanza(self.state)
        standby = self.postgres(topo, "dc-b")
        standby.init_standby_from(
            Endpoint(topo.lan_address("dc-a"), 5432),
            "replicator",
            self.state.secret("replicator_password"),
        )
        standby.start()
        # Where a runbook restores the credit database at the backup room: empty, stopped.
        self.postgres(topo, "backup").prepare_empty()

    def credit_dsn(self, topo: LabTopology, host: str, via: str = "mgmt") -> str:
        address = topo.mgmt_address(host) if via == "mgmt" else "127.0.0.1"
        password = self.state.secret("credit_app_password")
        return (
            f"host={address} port=5432 dbname=credit user=credit_app "
            f"password={password} connect_timeout=3"
        )

    def _load_credit_data(self, loans: int, manifest: LabManifest) -> None:
        from lab.credit import schema

        topo = LabTopology(branches=manifest.branches)
        dsn = self.credit_dsn(topo, "dc-a")
        if schema.loan_count(dsn) >= loans:
            return
        self.progress(f"synthetic credit data ({loans:,} loans)")
        schema.create_schema(dsn)
        schema.generate_data(dsn, loans=loans)

    def _start_service(self, topo: LabTopology, manifest: LabManifest, host: str) -> None:
        dsn_file = self.state.write_secret(
            f"credit_dsn_{host}", self.credit_dsn(topo, host, "local")
        )
        messages = self.data_dir(host) / "messages"
        messages.mkdir(parents=True, exist_ok=True)
        self._ensure_process(
            manifest,
            f"credit-service@{host}",
            [
                sys.executable,
                "-m",
                "lab.credit.service",
                "--listen",
                "0.0.0.0",
                "--port",
                str(topo.service_port),
                "--dsn-file",
                str(dsn_file),
                "--message-dir",
                str(messages),
                "--lifetime",
                str(LIFETIME_S),
            ],
            netns=topo.namespace(host),
        )

    def start_credit_service(self, host: str) -> None:
        """Start the credit service on `host` (it answers on every address there, the VIP
        included once the host holds it); no-op while it runs."""
        manifest = self.state.load()
        self._start_service(LabTopology(branches=manifest.branches), manifest, host)

    def stop_credit_service(self, host: str) -> None:
        manifest = self.state.load()
        process = manifest.processes.pop(f"credit-service@{host}", None)
        if process is not None:
            processes.stop(process)
            self.state.save(manifest)

    def serving_host(self) -> str | None:
        """The one host that holds the service VIP now (where the credit service
        answers), or None when none (or, in a split brain, more than one) does."""
        topo = LabTopology(branches=self.state.load().branches)
        holders = topology.vip_holders(topo)
        return holders[0] if len(holders) == 1 else None

    def credit_service_running(self, host: str) -> bool:
        process = self.state.load().processes.get(f"credit-service@{host}")
        return process is not None and processes.is_ours(process)

    def _install_host_control(self) -> None:
        """STATE/bin/dr-lab-host: the lab hosts' pg_ctlcluster and systemctl (see
        lab/host_control.py), named by the lab inventory's pair control."""
        program = self.state.root / "bin" / "dr-lab-host"
        program.parent.mkdir(parents=True, exist_ok=True)
        pythonpath = shlex.quote(os.pathsep.join(sys.path))
        program.write_text(
            "#!/bin/sh\n"
            f"PYTHONPATH={pythonpath} exec {shlex.quote(sys.executable)} "
            '-m lab.host_control "$@"\n'
        )
        program.chmod(0o755)

    def _start_observers(self, topo: LabTopology, manifest: LabManifest) -> None:
        self.state.observe.mkdir(parents=True, exist_ok=True)
        url = f"http://{topo.vip}:{topo.service_port}"
        self._ensure_process(
            manifest,
            "loadgen",
            [
                sys.executable,
                "-m",
                "lab.credit.loadgen",
                "--url",
                url,
                "--rate",
                str(LOADGEN_RATE),
                "--log",
                str(self.state.observe / "loadgen.jsonl"),
                "--status",
                str(self.state.observe / "loadgen.json"),
                "--lifetime",
                str(LIFETIME_S),
            ],
            netns=topo.namespace("core"),
        )
        for n in range(1, topo.branches + 1):
            name = f"branch-{n}"
            self._ensure_process(
                manifest,
                f"prober@{name}",
                [
                    sys.executable,
                    "-m",
                    "lab.credit.prober",
                    "--url",
                    f"{url}/health",
                    "--interval",
                    str(PROBE_INTERVAL_S),
                    "--name",
                    name,
                    "--log",
                    str(self.state.observe / f"prober-{name}.jsonl"),
                    "--status",
                    str(self.state.observe / f"prober-{name}.json"),
                    "--lifetime",
                    str(LIFETIME_S),
                ],
                netns=topo.namespace(name),
            )

    def ups(self) -> UpsLab:
        from lab.ups import UpsLab

        return UpsLab(
            self.state.root / "ups",
            port=UPS_PORT,
            password_file=self.state.secrets / "ups_password",
            outlet_feeds="dc-a",
            lab_root=self.state.root,
        )

    def genset(self) -> GensetLab:
        from lab.genset import GensetLab

        return GensetLab(self.state.root / "genset", port=GENSET_PORT, warmup=GENSET_WARMUP_S)

    def s3(self) -> S3Lab:
        from lab.s3 import S3Lab

        return S3Lab(
            self.state.root / "s3",
            port=S3_PORT,
            secrets_dir=self.state.secrets,
            # On the management bridge: the hosts' archive_command reaches it from there.
            tls_address=LabTopology().mgmt_gateway,
            tls_port=S3_TLS_PORT,
            ca_dir=self.state.ca_file.parent,
        )

    def _root_namespace_parts(self) -> list[Any]:
        return [self.ups(), self.genset(), self.s3()]

    def forget_processes_in(self, namespace: str) -> None:
        """After a host lost power, its processes are gone: stop tracking them."""
        manifest = self.state.load()
        manifest.processes = {k: p for k, p in manifest.processes.items() if p.netns != namespace}
        self.state.save(manifest)

    # ---- faults ----------------------------------------------------------------------

    def fault(self, name: str, args: list[str]) -> str:
        return self.apply(name, args, heal=False)[0]

    def heal(self, name: str, args: list[str]) -> str:
        return self.apply(name, args, heal=True)[0]

    def apply(self, name: str, args: list[str], *, heal: bool) -> tuple[str, dict[str, Any] | None]:
        """Inject (or heal) a fault; its key, and what it reported (faults.py)."""
        host_machine.require_root()
        fault = faults.lookup(name)
        manifest = self.state.load()
        faults.require_lab(manifest.ready)
        topo = LabTopology(branches=manifest.branches)
        if heal:
            key = fault.key(args)
            if not args:  # `dr lab heal line-cut` with one such fault in force heals it
                matching = [k for k in manifest.faults if k.split()[0] == name]
                key = matching[0] if len(matching) == 1 else key
                args = key.split()[1:]
            report = fault.heal(self, topo, args)
            manifest = self.state.load()
            manifest.faults.pop(key, None)
        else:
            report = fault.inject(self, topo, args)
            manifest = self.state.load()
            manifest.faults[fault.key(args)] = {"since": _now(), **(report or {})}
        self.state.save(manifest)
        return fault.key(args), report

    def _start_s3(self) -> None:
        s3 = self.s3()
        if s3.start():  # a fresh (empty) endpoint: the backup buckets must exist again
            s3.provision_bucket(S3_BUCKET, versioning=True)
            s3.provision_bucket(PITR_BUCKET, versioning=True)
        # A fresh endpoint also wrote new keys, which archive_command reads.
        pitr.share_secrets(self.state)

    def _mount_data_disks(self) -> None:
        """Each data host's data directory is a small disk of its own, mounted before any
        program opens files there, so `disk-full` can really fill it."""
        for host in DATA_HOSTS:
            mount_small_disk(self.data_dir(host), size_mb=DATA_DISK_MB, lab_root=self.state.root)

    def data_dir(self, host: str) -> Path:
        """/var/lib/credit-report of a lab host: report messages, and what backups take."""
        return self.state.host_dir(host) / "credit-report"

    def _ensure_process(
        self, manifest: LabManifest, name: str, argv: list[str], *, netns: str | None
    ) -> None:
        existing = manifest.processes.get(name)
        if existing is not None and processes.is_ours(existing):
            return
        # Every lab program's arguments name a file in the state directory: that path,
        # with the pid, tells our process from a stranger that reused the pid.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        process = processes.start(
            name,
            argv,
            marker=str(self.state.root),
            netns=netns,
            log=self.state.logs / f"{name}.log",
            env=env,
        )
        manifest.processes[name] = process
        self.state.save(manifest)


def _wait_healthy(url: str, timeout: float = 30) -> None:
    import urllib.request

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    if not wait_until(healthy, timeout=timeout, interval=0.2):
        raise LabError(
            f"the credit service did not become healthy at {url} within "
            f"{timeout:.0f}s; see its log under /var/lib/dr-lab/log"
        )


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
