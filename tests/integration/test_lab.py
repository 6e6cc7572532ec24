"""The drill lab, part by part, each through its own protocol; then every fault and heal.

One lab per session (`lab` fixture): `dr lab up` is the slow part, so the tests share it
and every fault test heals what it broke before it ends.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest

from lab import netns
from lab.lab_inventory import render
from lab.topology import LabTopology
from orchestrator.engine.endpoints import ssh_endpoint
from orchestrator.inventory import resolve_secret
from orchestrator.local_machine import wait_until
from orchestrator.transports.genset import GensetClient
from orchestrator.transports.ssh import SshTransport
from orchestrator.transports.ups import NutClient

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent.parent
TOPO = LabTopology(branches=2)


def _observer(lab, name: str) -> dict:
    return json.loads((lab.state.observe / f"{name}.json").read_text())


def _branch_reaches_service(branch: int, timeout: float = 2) -> bool:
    url = f"http://{TOPO.vip}:{TOPO.service_port}/health"
    probe = [
        sys.executable,
        "-c",
        f"import urllib.request; urllib.request.urlopen({url!r}, timeout={timeout})",
    ]
    result = subprocess.run(
        netns.in_netns(TOPO.namespace(f"branch-{branch}"), probe),
        capture_output=True,
        timeout=timeout + 5,
    )
    return result.returncode == 0


def test_committed_lab_inventory_is_what_up_builds(lab):
    assert (ROOT / "inventory" / "lab.yaml").read_text() == render(TOPO, lab.state)


def test_every_host_answers_ssh_with_strict_host_keys(lab, lab_inventory):
    with SshTransport() as ssh:
        for host in lab_inventory.hosts:
            result = ssh.run(ssh_endpoint(host, lab_inventory, mode="live"), "hostname -I")
            assert result.ok and str(host.address) in result.stdout, host.name
        for switch in ("sw-funds", "sw-nonfunds"):
            address = TOPO.mgmt_address(switch)
            result = ssh.run(
                ssh_endpoint(_as_host(lab_inventory, switch, address), lab_inventory, mode="live"),
                "ip -br link",
            )
            assert result.ok and "ln-1" in result.stdout


def _as_host(inventory, name: str, address: str):
    template = inventory.hosts[0]
    return template.model_copy(update={"name": name, "address": address})


def test_primary_and_streaming_standby_with_readable_lag(lab):
    primary, standby = lab.postgres(TOPO, "dc-a"), lab.postgres(TOPO, "dc-b")
    assert not primary.is_standby and standby.is_standby
    assert int(primary.psql("SELECT count(*) FROM loans", database="credit")) >= 10_000
    marker = f"lab-test-{time.time_ns()}"
    # In the postgres database: replication is the whole cluster's, and the credit
    # database keeps only the credit schema (restores check every table in it).
    primary.psql(
        f"CREATE TABLE IF NOT EXISTS lab_probe (v text); INSERT INTO lab_probe VALUES ('{marker}')"
    )
    assert wait_until(lambda: marker in standby.psql("SELECT v FROM lab_probe"), timeout=10)
    assert standby.replay_lag() is not None
    assert [r for r in primary.replication_status()]


def test_service_acknowledges_writes_and_the_observers_count(lab):
    assert wait_until(lambda: _observer(lab, "loadgen").get("acked", 0) >= 5, timeout=20)
    for n in (1, 2):
        assert wait_until(
            lambda n=n: _observer(lab, f"prober-branch-{n}").get("ok", 0) >= 10, timeout=20
        )
        assert _branch_reaches_service(n)


def test_ups_reports_through_nut(lab, lab_inventory):
    ups = lab_inventory.ups("lab-ups")
    client = NutClient(
        ups.nut_host,
        ups.nut_port,
        ups.ups_name,
        username=ups.username,
        password=resolve_secret(ups.password),
    )
    reading = client.reading()
    assert "OL" in reading.status and not reading.on_battery
    upsc = subprocess.run(
        ["upsc", f"lab-ups@127.0.0.1:{ups.nut_port}", "ups.status"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert upsc.stdout.strip().startswith("OL")


def test_generator_reads_over_modbus(lab, lab_inventory):
    generator = lab_inventory.generator("lab-genset")
    status = GensetClient(generator.modbus_host, generator.modbus_port).status()
    assert not status.running and status.mains_breaker_closed


def test_s3_put_and_get_with_the_inventorys_credentials(lab):
    client = boto3.client(
        "s3",
        endpoint_url=lab.s3().endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=lab.state.secret("s3_access_key_id"),
        aws_secret_access_key=lab.state.secret("s3_secret_access_key"),
    )
    versioning = client.get_bucket_versioning(Bucket="credit-backups")
    assert versioning["Status"] == "Enabled"
    client.put_object(Bucket="credit-backups", Key="lab-test/hello.txt", Body=b"ni hao")
    body = client.get_object(Bucket="credit-backups", Key="lab-test/hello.txt")["Body"].read()
    assert body == b"ni hao"


def test_s3_down_refuses_quickly_and_heal_keeps_the_data(lab):
    client = boto3.client(
        "s3",
        endpoint_url=lab.s3().endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=lab.state.secret("s3_access_key_id"),
        aws_secret_access_key=lab.state.secret("s3_secret_access_key"),
        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    client.put_object(Bucket="credit-backups", Key="lab-test/kept.txt", Body=b"kept")
    lab.fault("s3-down", [])
    try:
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            client.head_bucket(Bucket="credit-backups")
    finally:
        lab.heal("s3-down", [])
    body = client.get_object(Bucket="credit-backups", Key="lab-test/kept.txt")["Body"].read()
    assert body == b"kept"


def test_disk_full_gives_enospc_and_heals(lab):
    target = lab.data_dir("dc-a") / "messages" / "probe.txt"
    lab.fault("disk-full", ["dc-a"])
    try:
        with pytest.raises(OSError) as caught:
            target.write_bytes(b"x" * 65536)
        assert caught.value.errno == errno.ENOSPC
    finally:
        lab.heal("disk-full", ["dc-a"])
    target.write_bytes(b"x" * 65536)
    target.unlink()


def test_line_cut_is_observed_and_healed(lab):
    lab.fault("line-cut", ["branch-1", "primary"])
    try:
        assert not _branch_reaches_service(1)
        assert _branch_reaches_service(2)
        assert not netns.link_info(TOPO.namespace("sw-funds"), "ln-1").carrier
        assert "line-cut branch-1 primary" in lab.state.load().faults
    finally:
        lab.heal("line-cut", ["branch-1", "primary"])
    assert wait_until(lambda: _branch_reaches_service(1), timeout=10)
    assert lab.state.load().faults == {}


def test_partition_keeps_the_primary_serving_but_unreachable(lab, lab_inventory):
    lab.fault("partition", ["dc-a"])
    try:
        with SshTransport() as ssh:
            assert not netns.ping(None, TOPO.mgmt_address("dc-a"))
            assert _branch_reaches_service(1)
            del ssh
    finally:
        lab.heal("partition", ["dc-a"])
    assert wait_until(lambda: netns.ping(None, TOPO.mgmt_address("dc-a")), timeout=10)


def test_switch_down_cuts_its_branches_and_heals(lab):
    lab.fault("switch-down", ["sw-funds"])
    try:
        assert not _branch_reaches_service(1)
        assert not netns.ping(None, TOPO.mgmt_address("sw-funds"))
    finally:
        lab.heal("switch-down", ["sw-funds"])
    assert wait_until(lambda: _branch_reaches_service(1), timeout=15)


def test_power_outage_drains_the_ups_battery(lab, lab_inventory):
    ups = lab_inventory.ups("lab-ups")
    client = NutClient(
        ups.nut_host,
        ups.nut_port,
        ups.ups_name,
        username=ups.username,
        password=resolve_secret(ups.password),
    )
    lab.fault("power-outage", [])
    try:
        assert wait_until(lambda: client.reading().on_battery, timeout=10)
        first = client.reading().runtime_s
        assert wait_until(lambda: client.reading().runtime_s < first, timeout=10)
    finally:
        lab.heal("power-outage", [])
    assert wait_until(lambda: not client.reading().on_battery, timeout=10)


def test_ups_fault_and_generator_no_start(lab, lab_inventory):
    ups = lab_inventory.ups("lab-ups")
    client = NutClient(
        ups.nut_host,
        ups.nut_port,
        ups.ups_name,
        username=ups.username,
        password=resolve_secret(ups.password),
    )
    lab.fault("ups-fault", [])
    try:
        assert wait_until(lambda: client.reading().status != {"OL"}, timeout=10)
    finally:
        lab.heal("ups-fault", [])
    generator = lab_inventory.generator("lab-genset")
    genset = GensetClient(generator.modbus_host, generator.modbus_port)
    lab.fault("generator-no-start", [])
    try:
        genset.open_mains_breaker()
        genset.start()
        assert wait_until(lambda: genset.status().fault, timeout=15)
        assert not genset.status().running
    finally:
        genset.stop()
        genset.close_mains_breaker()
        lab.heal("generator-no-start", [])


def test_host_down_kills_the_primary_and_heal_powers_it_back(lab):
    lab.fault("host-down", ["dc-a"])
    try:
        assert not netns.ping(None, TOPO.mgmt_address("dc-a"))
        assert wait_until(lambda: not _branch_reaches_service(1, timeout=1), timeout=10)
        assert netns.namespace_pids(TOPO.namespace("dc-a")) == []
    finally:
        lab.heal("host-down", ["dc-a"])
        lab.up(branches=2)  # the credit service does not start by itself after power-on
    assert wait_until(lambda: _branch_reaches_service(1), timeout=20)


def test_status_reports_every_part(lab):
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "lab", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["up"] is True
    assert all(report["namespaces"].values())
    assert all(report["sshd"].values())
    assert all(p["running"] for p in report["processes"].values())
    assert report["database"]["dc-a"]["role"] == "primary"
    assert report["database"]["dc-b"]["role"] == "standby"
    assert report["observers"]["loadgen"]["acked"] > 0
    assert "error" not in report["ups"] and "error" not in report["generator"]


def test_corrupt_backup_breaks_a_restic_pack_and_heal_restores_it(lab):
    repo = lab.state.root / "repos" / "lab-test-corrupt"
    env = {
        "RESTIC_PASSWORD_FILE": str(lab.state.secrets / "restic_password"),
        "RESTIC_REPOSITORY": str(repo),
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
    }
    data = lab.state.root / "corrupt-test-data"
    data.mkdir(exist_ok=True)
    (data / "loans.csv").write_bytes(os.urandom(256 * 1024))

    def restic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["restic", *args], env=env, capture_output=True, text=True, timeout=120
        )

    assert restic("init").returncode == 0
    assert restic("backup", str(data)).returncode == 0
    lab.fault("corrupt-backup", [str(repo)])
    try:
        broken = restic("check", "--read-data")
        assert broken.returncode != 0
    finally:
        lab.heal("corrupt-backup", [str(repo)])
    assert restic("check", "--read-data").returncode == 0
