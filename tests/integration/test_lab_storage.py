"""The lab's storage parts for real: moto behind its proxy, restic 0.14 against it, the
`s3-down`, `corrupt-backup` and `disk-full` faults and their heals."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import pytest

from lab import storage_faults
from lab.errors import LabError
from lab.s3 import S3Lab
from orchestrator.local_machine import find_free_port, process_is_running

pytestmark = pytest.mark.integration

BUCKET = "credit-backups"
RESTIC = "/usr/bin/restic"


@pytest.fixture(scope="module")
def s3_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Lab]:
    lab = S3Lab(tmp_path_factory.mktemp("s3"), port=find_free_port(), backend_port=find_free_port())
    assert lab.start() is True
    lab.provision_bucket(BUCKET)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def restic_env(tmp_path_factory: pytest.TempPathFactory, s3_lab: S3Lab) -> dict[str, str]:
    home = tmp_path_factory.mktemp("restic")
    password = home / "password"
    password.write_text("lab drill password\n")
    password.chmod(0o600)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "RESTIC_PASSWORD_FILE": str(password),
        "RESTIC_CACHE_DIR": str(home / "cache"),
        **s3_lab.restic_env(),
    }


def restic(repo: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [RESTIC, "-r", repo, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def backed_up_repo(repo: str, env: dict[str, str], source: Path) -> str:
    """Init `repo`, back up a few files from `source`; returns the snapshot id."""
    source.mkdir(parents=True)
    for index in range(3):
        (source / f"loans-{index}.csv").write_bytes(os.urandom(200_000))
    (source / "征信报文.txt").write_text("report message\n", encoding="utf-8")
    assert restic(repo, env, "init").returncode == 0
    backup = restic(repo, env, "backup", "--json", str(source))
    assert backup.returncode == 0, backup.stderr
    return str(restic(repo, env, "snapshots", "--json").stdout.split('"short_id":"')[1][:8])


def test_s3_lab_keeps_versions_and_refuses_a_wrong_key(s3_lab: S3Lab):
    s3 = s3_lab.client()
    s3.put_object(Bucket=BUCKET, Key="probe", Body=b"one")
    s3.put_object(Bucket=BUCKET, Key="probe", Body=b"two")
    assert s3.get_object(Bucket=BUCKET, Key="probe")["Body"].read() == b"two"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="probe")["Versions"]
    assert len(versions) == 2
    assert s3_lab.secret_key_file.stat().st_mode & 0o777 == 0o600

    s3_lab.secret_key_file.rename(s3_lab.secret_key_file.with_suffix(".real"))
    try:
        s3_lab.secret_key_file.write_text("not-the-secret\n")
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            s3_lab.client().get_object(Bucket=BUCKET, Key="probe")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    finally:
        s3_lab.secret_key_file.with_suffix(".real").replace(s3_lab.secret_key_file)


def test_restic_backs_up_to_and_restores_from_the_lab_s3(
    s3_lab: S3Lab, restic_env: dict[str, str], tmp_path: Path
):
    repo = s3_lab.restic_repository(BUCKET, "restore-test")
    assert repo == f"s3:http://127.0.0.1:{s3_lab.port}/{BUCKET}/restore-test"
    backed_up_repo(repo, restic_env, tmp_path / "src")
    restored = restic(repo, restic_env, "restore", "latest", "--target", str(tmp_path / "out"))
    assert restored.returncode == 0, restored.stderr
    copy = tmp_path / "out" / str(tmp_path / "src").lstrip("/")
    for original in (tmp_path / "src").iterdir():
        assert (copy / original.name).read_bytes() == original.read_bytes()


def test_s3_down_refuses_at_once_and_heal_brings_the_same_data_back(
    s3_lab: S3Lab, restic_env: dict[str, str], tmp_path: Path
):
    repo = s3_lab.restic_repository(BUCKET, "outage")
    snapshot = backed_up_repo(repo, restic_env, tmp_path / "src")
    s3_lab.client().put_object(Bucket=BUCKET, Key="before-outage", Body=b"kept")

    s3_lab.down()
    try:
        assert s3_lab.status()["state"] == "down"
        started = time.monotonic()
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            s3_lab.client().get_object(Bucket=BUCKET, Key="before-outage")
        listed = restic(repo, restic_env, "snapshots")
        assert listed.returncode != 0
        assert "connection refused" in listed.stderr
        assert time.monotonic() - started < 10
        s3_lab.start()  # `dr lab up` again must not quietly end the fault
        assert s3_lab.status()["state"] == "down"
    finally:
        s3_lab.up()

    assert s3_lab.status()["state"] == "up"
    assert s3_lab.client().get_object(Bucket=BUCKET, Key="before-outage")["Body"].read() == b"kept"
    assert snapshot in restic(repo, restic_env, "snapshots").stdout


def _pack_is_intact(data: bytes, name: str) -> bool:
    return hashlib.sha256(data).hexdigest() == name  # a restic pack is named by its hash


def test_corrupted_local_pack_fails_read_data_check_until_restored(
    restic_env: dict[str, str], tmp_path: Path
):
    repo = tmp_path / "repo"
    backed_up_repo(str(repo), restic_env, tmp_path / "src")

    pack = storage_faults.corrupt_pack(repo, seed=7)
    assert storage_faults.corrupt_pack(repo, seed=99) == pack  # idempotent
    assert not _pack_is_intact(pack.read_bytes(), pack.name)
    assert restic(str(repo), restic_env, "check").returncode == 0  # header left intact
    checked = restic(str(repo), restic_env, "check", "--read-data")
    assert checked.returncode != 0, checked.stdout

    assert storage_faults.restore_pack(repo) == pack
    assert _pack_is_intact(pack.read_bytes(), pack.name)
    assert restic(str(repo), restic_env, "check", "--read-data").returncode == 0
    assert storage_faults.restore_pack(repo) is None


def test_corrupted_s3_pack_fails_read_data_check_until_restored(
    s3_lab: S3Lab, restic_env: dict[str, str], tmp_path: Path
):
    repo = s3_lab.restic_repository(BUCKET, "rot")
    backed_up_repo(repo, restic_env, tmp_path / "src")
    record = tmp_path / "corrupt-backup.json"
    s3 = s3_lab.client()

    key = storage_faults.corrupt_s3_pack(s3, BUCKET, "rot", record=record, seed=3)
    assert key.startswith("rot/data/")
    assert restic(repo, restic_env, "check", "--read-data").returncode != 0

    assert storage_faults.restore_s3_pack(s3, record=record) == key
    data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert _pack_is_intact(data, key.rsplit("/", 1)[1])
    assert restic(repo, restic_env, "check", "--read-data").returncode == 0


def _lab_mounts(root: Path) -> str:
    listed = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True)
    return "\n".join(line for line in listed.stdout.splitlines() if line.startswith(str(root)))


def test_disk_full_gives_writers_enospc_and_heal_frees_it_without_mounts_left(tmp_path: Path):
    lab_root = tmp_path / "lab"
    disk = lab_root / "hosts" / "dc-a" / "credit-report"
    with pytest.raises(LabError, match="not inside the lab's state directory"):
        storage_faults.mount_small_disk(tmp_path / "elsewhere", size_mb=4, lab_root=lab_root)
    with pytest.raises(LabError, match="not a lab disk"):
        storage_faults.fill_disk(tmp_path)

    storage_faults.mount_small_disk(disk, size_mb=4, lab_root=lab_root)
    try:
        (disk / "messages").mkdir()
        (disk / "messages" / "R1.txt").write_text("before the fault\n")
        assert storage_faults.fill_disk(disk) > 3 * 2**20
        with pytest.raises(OSError) as full:
            (disk / "messages" / "R2.txt").write_bytes(os.urandom(64 * 1024))
        assert full.value.errno == errno.ENOSPC
        assert (disk / "messages" / "R1.txt").read_text() == "before the fault\n"

        storage_faults.free_disk(disk)
        (disk / "messages" / "R3.txt").write_bytes(os.urandom(64 * 1024))
        assert storage_faults.lab_disks(lab_root) == [disk]
    finally:
        storage_faults.unmount_small_disk(disk)
    assert _lab_mounts(lab_root) == ""
    assert storage_faults.lab_disks(lab_root) == []


def test_stop_from_another_process_leaves_no_s3_process(tmp_path: Path):
    lab = S3Lab(tmp_path / "s3", port=find_free_port(), backend_port=find_free_port())
    lab.start()
    pids = [pid for pid in lab.pids.values() if pid is not None]
    assert len(pids) == 2

    stop = (
        "import sys; from pathlib import Path; from lab.s3 import S3Lab; "
        "S3Lab(Path(sys.argv[1]), port=int(sys.argv[2]), backend_port=int(sys.argv[3])).stop()"
    )
    arguments = [str(lab.state_dir), str(lab.port), str(lab.backend_port)]
    subprocess.run([sys.executable, "-c", stop, *arguments], check=True, timeout=30)

    assert not any(process_is_running(pid) for pid in pids)
    assert lab.status()["state"] == "stopped"
    lab.stop()  # idempotent
