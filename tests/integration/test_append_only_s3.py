"""The offsite repositories survive the database host's own credentials trying to destroy
them, and come back whole: moto's S3 over TLS with IAM checked (its own process),
PostgreSQL 15, pgBackRest 2.45 and restic 0.14, all real.

The bucket owner makes the bucket once (versioned, Object Lock COMPLIANCE for a day).
The database host gets a key with `backups.s3_policies.database_host_policy`: it
archives and backs up as usual, then tries every way to destroy the repository with that
key (boto3's delete_object / delete_objects of every version, delete_bucket, versioning
suspended, Object Lock or lifecycle changed; pgBackRest's expire and stanza-delete;
restic's forget --prune; an overwrite). What moto refuses, and why, is asserted; every
version the repository held is still there afterwards, the bucket owner cannot delete
one either, and once the backup room rewinds the repository (`dr backup rewind`, with
its own key) a restore from it succeeds.

moto 5 checks a key's policy on every request and Object Lock on deleting a version.
Where it differs from AWS (tests/support/s3_iam.py): a DeleteObjects entry naming a
version is allowed as s3:DeleteObject (AWS: s3:DeleteObjectVersion, which the host is
denied), so here Object Lock is what refuses it; PutObjectRetention counts as
s3:PutObject and may shorten a lock, so that attack is not tried (on AWS the host is
denied it, and COMPLIANCE forbids it to everyone); objects completed by a multipart
upload get no default retention, so the test checks that the repository's objects here
each carry it.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from backups import s3_policies
from backups.pgbackrest.restore import RecoveryTarget
from backups.pitr.context import PitrContext
from backups.pitr.init import init_set
from backups.pitr.listing import list_backups
from backups.pitr.restore import restore_cluster
from backups.pitr.run import run_backup
from backups.pitr.session import pgbackrest_program
from backups.pitr.settings import server_settings
from backups.s3_bucket import BucketAccess, ObjectLock, provision
from orchestrator.errors import BackupError
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port, wait_until
from orchestrator.postgresql.local_cluster import LocalCluster
from tests.support.s3_iam import MOTO_HEAD_BUCKET, REGION, IamMotoServer
from tests.support.s3_tls import write_certificate

pytestmark = pytest.mark.integration

BUCKET = "dr-offsite"
CIPHER_PASS = "offsite-Cipher-93b1"
RESTIC_PASSWORD = "offsite-restic-Pw-2d7a"
HOST_KEY_ENV, HOST_SECRET_ENV = "DR_TEST_HOST_S3_KEY", "DR_TEST_HOST_S3_SECRET"
ROOM_KEY_ENV, ROOM_SECRET_ENV = "DR_TEST_ROOM_S3_KEY", "DR_TEST_ROOM_S3_SECRET"
Key = tuple[str, str]


@dataclass
class Offsite:
    base: Path
    s3: IamMotoServer
    cert: Path
    owner: Key
    host: Key
    db: str

    def client(self, key: Key) -> Any:
        return self.s3.client("s3", key)

    def versions(self, prefix: str) -> set[tuple[str, str]]:
        """Every object version under `prefix`, as the bucket owner sees them."""
        pages = self.client(self.owner).get_paginator("list_object_versions")
        return {
            (v["Key"], v["VersionId"])
            for page in pages.paginate(Bucket=BUCKET, Prefix=prefix)
            for v in page.get("Versions", [])
        }

    def current(self, prefix: str) -> list[str]:
        answer = self.client(self.owner).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for o in answer.get("Contents", [])]


def _postgres() -> pwd.struct_passwd:
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())


def _with_moto_head_bucket(policy: dict[str, Any]) -> dict[str, Any]:
    """moto asks s3:HeadBucket where AWS asks s3:ListBucket, which the policy grants."""
    extra = {"Effect": "Allow", "Action": [MOTO_HEAD_BUCKET], "Resource": "*"}
    return {**policy, "Statement": [*policy["Statement"], extra]}


def _refused(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def dr(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "orchestrator.cli.main", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ), timeout=600
    )


@pytest.fixture(scope="module")
def offsite() -> Iterator[Offsite]:
    base = Path(tempfile.mkdtemp(prefix="dr-test-offsite-"))
    base.chmod(0o711)
    (base / "s3").mkdir(mode=0o755)
    cert, key = write_certificate(base / "s3")
    cert.chmod(0o644)
    s3 = IamMotoServer(find_free_port(), cert, key)
    s3.start()
    try:
        owner = s3.create_user("bucket-owner", {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        })  # fmt: skip
        host = s3.create_user(
            "db-host", _with_moto_head_bucket(s3_policies.database_host_policy(BUCKET))
        )
        room = s3.create_user(
            "backup-room", _with_moto_head_bucket(s3_policies.recovery_policy(BUCKET))
        )
        s3.enforce()
        with pytest.MonkeyPatch.context() as patch:
            for name, value in ((HOST_KEY_ENV, host[0]), (HOST_SECRET_ENV, host[1]),
                                (ROOM_KEY_ENV, room[0]), (ROOM_SECRET_ENV, room[1])):  # fmt: skip
                patch.setenv(name, value)
            patch.setenv("XDG_STATE_HOME", str(base / "state"))
            # restic (Go) and boto3 trust the test's certificate through these.
            patch.setenv("SSL_CERT_FILE", str(cert))
            patch.setenv("AWS_CA_BUNDLE", str(cert))
            yield Offsite(base, s3, cert, owner, host, f"sqlite:///{base / 'journal.sqlite3'}")
    finally:
        s3.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_the_bucket_owner_makes_the_bucket_and_the_hosts_key_is_append_only(offsite):
    def access(key: Key) -> BucketAccess:
        return BucketAccess(offsite.s3.url, BUCKET, REGION, key[0], key[1], str(offsite.cert),
                            path_style=True)  # fmt: skip

    made = provision(access(offsite.owner), ObjectLock(days=1, mode="COMPLIANCE"))
    assert made == {
        "bucket": BUCKET, "created": True, "versioning": "Enabled",
        "object_lock": {"mode": "compliance", "days": 1}, "append_only": False,
    }  # fmt: skip
    checked = provision(access(offsite.host), None)
    assert checked["created"] is False and checked["append_only"] is True
    assert checked["object_lock"] == {"mode": "compliance", "days": 1}
    # The host's key may not weaken the bucket, so asking it to fails with what to do.
    with pytest.raises(BackupError, match=r"may not set Object Lock .* storage administrator"):
        provision(access(offsite.host), ObjectLock(days=2, mode="GOVERNANCE"))


# ---- pgBackRest ---------------------------------------------------------------------


def _pitr_inventory(base: Path, port: int, offsite: Offsite) -> Path:
    secrets = base / "secrets"
    secrets.mkdir(mode=0o755)
    cipher = secrets / "cipher.pass"
    cipher.write_text(CIPHER_PASS + "\n")
    cipher.chmod(0o600)
    os.chown(cipher, _postgres().pw_uid, _postgres().pw_gid)
    pitr = {
        "name": "credit-pitr", "kind": "postgres-pitr", "host_pair": "credit", "stanza": "credit",
        "pg_path": str(base / "primary" / "data"), "pg_socket_path": str(base / "primary" / "run"),
        "repositories": [
            {"type": "posix", "path": str(base / "repo1")},
            {"type": "s3", "endpoint": offsite.s3.endpoint, "bucket": BUCKET, "path": "/credit",
             "uri_style": "path", "ca_file": str(offsite.cert),
             "access_key_id": f"env:{HOST_KEY_ENV}", "secret_access_key": f"env:{HOST_SECRET_ENV}"},
        ],
        "cipher_pass": f"file:{cipher}", "archive_timeout": "60s",
        "config_file": str(base / "pgbackrest" / "credit.conf"), "spool_path": str(base / "spool"),
        "log_path": str(base / "log"), "lock_path": str(base / "lock"), "start_fast": True,
    }  # fmt: skip
    return _inventory(base, port, [pitr])


def _inventory(base: Path, port: int, sets: list[dict[str, Any]]) -> Path:
    document = {
        "name": "offsite-test", "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-a", "address": "127.0.0.1", "site": "dc"},
                  {"name": "db-b", "address": "127.0.0.1", "site": "dc"}],
        "host_pairs": [{"name": "credit", "service": "credit", "primary": "db-a",
                        "standby": "db-b", "vip": "127.0.0.10/8",
                        "database": {"port": port, "name": "credit", "user": "postgres"}}],
        "backup_sets": sets,
    }  # fmt: skip
    path = base / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def archived(offsite: Offsite) -> Iterator[tuple[Path, LocalCluster]]:
    """A cluster archiving into a posix repository and the offsite bucket (host's key)."""
    base = offsite.base / "pitr"
    base.mkdir(mode=0o711)
    port = find_free_port()
    inventory = _pitr_inventory(base, port, offsite)
    loaded = load_inventory(inventory)
    settings = server_settings(loaded, loaded.pitr_sets[0], pgbackrest_program())
    cluster = LocalCluster(base / "primary" / "data", port=port, extra_settings=settings)
    cluster.init(fast=True)
    cluster.start()
    try:
        yield inventory, cluster
    finally:
        cluster.stop("immediate")


def _context(offsite: Offsite, inventory: Path) -> PitrContext:
    return PitrContext.for_set(
        load_inventory(inventory), "credit-pitr", journal=Journal(offsite.db)
    )


def test_the_database_hosts_key_cannot_destroy_the_pitr_repository(offsite, archived):
    inventory, cluster = archived
    ctx = _context(offsite, inventory)
    initialized = init_set(ctx)
    bucket = initialized["repositories"][1]["bucket"]
    assert bucket["created"] is False and bucket["append_only"] is True, bucket
    assert bucket["object_lock"] == {"mode": "compliance", "days": 1}
    assert "warning" not in initialized["repositories"][1]

    assert run_backup(ctx, kind="full").status == "ok"
    cluster.psql("CREATE TABLE loans (id int PRIMARY KEY, note text)")
    cluster.psql("INSERT INTO loans SELECT g, 'before' FROM generate_series(1, 200) g")
    assert run_backup(ctx, kind="full").status == "ok"
    cluster.psql("INSERT INTO loans SELECT g, 'before' FROM generate_series(201, 300) g")
    session = ctx.session()
    session.check(120)  # every segment with those rows is in both repositories
    written = offsite.versions("credit/")
    assert len(written) > 10
    owner = offsite.client(offsite.owner)
    for key, version in written:  # (moto has no GetObjectRetention; HEAD tells the same)
        head = owner.head_object(Bucket=BUCKET, Key=key, VersionId=version)
        assert head["ObjectLockMode"] == "COMPLIANCE", key
        assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC), key
    time.sleep(1.2)
    before_attack = datetime.now(UTC)
    time.sleep(1.2)

    # The attack, with the database host's own key.
    host = offsite.client(offsite.host)
    key, version = sorted(written)[0]
    assert _refused(lambda: host.delete_object(Bucket=BUCKET, Key=key, VersionId=version)) == (
        "AccessDenied"
    )
    objects = [{"Key": k, "VersionId": v} for k, v in sorted(written)]
    answer = host.delete_objects(Bucket=BUCKET, Delete={"Objects": objects})
    assert not answer.get("Deleted") and len(answer["Errors"]) == len(objects)
    for attempt in (
        lambda: host.delete_bucket(Bucket=BUCKET),
        lambda: host.put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"}
        ),
        lambda: host.put_object_lock_configuration(
            Bucket=BUCKET, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        ),
        lambda: host.put_bucket_lifecycle_configuration(
            Bucket=BUCKET,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "wipe",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    }
                ]
            },
        ),
        lambda: host.put_bucket_policy(
            Bucket=BUCKET, Policy=json.dumps(s3_policies.recovery_policy(BUCKET))
        ),
    ):
        assert _refused(attempt) == "AccessDenied"
    # pgBackRest's own ways, through the set's configuration and the host's key.
    session.run(["expire", "--repo=2", "--repo2-retention-full=1"], what="expire", timeout=120)
    session.run(["stop"], what="stop", timeout=60)
    session.run(["stanza-delete", "--repo=2", "--force"], what="stanza-delete", timeout=120)
    session.run(["start"], what="start", timeout=60)
    host.put_object(Bucket=BUCKET, Key="credit/archive/credit/archive.info", Body=b"ransom note")

    # What the attack achieved: the repository looks gone to pgBackRest...
    assert offsite.current("credit/") == ["credit/archive/credit/archive.info"]
    repo2 = list_backups(ctx)["repositories"][1]
    assert repo2["backups"] == [] and repo2["error"], repo2
    # ...and it destroyed nothing: every version is there, and nobody may delete one.
    assert written <= offsite.versions("credit/")
    assert _refused(lambda: owner.delete_object(Bucket=BUCKET, Key=key, VersionId=version)) == (
        "AccessDenied"
    )

    # The host's key cannot undo it (it may not list versions); the backup room's can.
    def rewind(key_env: str, secret_env: str) -> subprocess.CompletedProcess[str]:
        return dr("backup", "rewind", "credit-pitr", "-i", str(inventory), "--db", offsite.db,
                  "--to", before_attack.isoformat(), "--key-id", f"env:{key_env}",
                  "--secret-key", f"env:{secret_env}", "--json")  # fmt: skip

    refused = rewind(HOST_KEY_ENV, HOST_SECRET_ENV)
    assert refused.returncode == 1 and "AccessDenied" in refused.stderr, refused.stderr
    rewound = rewind(ROOM_KEY_ENV, ROOM_SECRET_ENV)
    assert rewound.returncode == 0, rewound.stderr
    done = json.loads(rewound.stdout)
    # expire rewrote backup.info before the deletes; the ransom note replaced archive.info.
    assert done["markers_removed"] > 0 and done["rewritten"] >= 1, done
    assert "rewrite credit/archive/credit/archive.info" in done["changes"]
    assert json.loads(rewind(ROOM_KEY_ENV, ROOM_SECRET_ENV).stdout)["changes"] == []  # done

    # Restore from the offsite repository alone, as after a lost data centre.
    shutil.rmtree(offsite.base / "pitr" / "repo1")
    restored_dir = offsite.base / "pitr" / "restored" / "data"
    restored = restore_cluster(ctx, restored_dir, RecoveryTarget.latest(), repository=2)
    assert restored["status"] == "ok"
    copy = LocalCluster(restored_dir, port=find_free_port(), name="dr-test-offsite-restored")
    copy.start(timeout=120)
    try:
        assert wait_until(lambda: copy.psql("SELECT pg_is_in_recovery()").strip() == "f",
                          timeout=120)  # fmt: skip
        assert copy.psql("SELECT count(*) FROM loans").strip() == "300"
    finally:
        copy.stop("immediate")
    kinds = {e.kind for e in Journal(offsite.db).events()}
    assert {"backup.initialized", "backup.rewound", "pitr.restored"} <= kinds


# ---- restic -------------------------------------------------------------------------


def test_the_hosts_key_cannot_destroy_a_restic_repository_and_a_rewind_brings_it_back(offsite):
    base = offsite.base / "restic"
    (base / "data").mkdir(parents=True)
    for n in range(20):
        (base / "data" / f"R{n:04d}.xml").write_text(f"<report n='{n}'>征信报文</report>\n" * 50)
    (base / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
    (base / "restic.pass").chmod(0o600)
    location = f"s3:{offsite.s3.url}/{BUCKET}/messages"
    messages = {
        "name": "messages", "host": "db-a", "repository": location,
        "password": f"file:{base / 'restic.pass'}", "paths": [str(base / "data")],
        "s3": {"access_key_id": f"env:{HOST_KEY_ENV}",
               "secret_access_key": f"env:{HOST_SECRET_ENV}"},
    }  # fmt: skip
    inventory = _inventory(base, 5432, [messages])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return dr(*args[:2], "messages", "-i", str(inventory), "--db", offsite.db, *args[2:])

    initialized = run("backup", "init")
    assert initialized.returncode == 0, initialized.stderr
    backed_up = run("backup", "run")
    assert backed_up.returncode == 0, backed_up.stderr
    written = offsite.versions("messages/")
    time.sleep(1.2)
    before_attack = datetime.now(UTC)
    time.sleep(1.2)

    # The attack: restic's own forget --prune with the host's key, then every version.
    env = {
        **os.environ, "AWS_ACCESS_KEY_ID": os.environ[HOST_KEY_ENV],
        "AWS_SECRET_ACCESS_KEY": os.environ[HOST_SECRET_ENV], "RESTIC_REPOSITORY": location,
        "RESTIC_PASSWORD_FILE": str(base / "restic.pass"),
    }  # fmt: skip
    snapshots = json.loads(
        subprocess.run(
            ["restic", "snapshots", "--json"], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    forget = subprocess.run(["restic", "forget", "--prune", *(s["id"] for s in snapshots)],
                            env=env, capture_output=True, text=True)  # fmt: skip
    assert forget.returncode == 0, forget.stderr  # restic believes it removed them
    host = offsite.client(offsite.host)
    objects = [{"Key": k, "VersionId": v} for k, v in sorted(written)]
    answer = host.delete_objects(Bucket=BUCKET, Delete={"Objects": objects})
    assert not answer.get("Deleted")
    assert run("restore-test").returncode == 1  # nothing left to restore, as restic sees it
    assert written <= offsite.versions("messages/")

    rewound = run("backup", "rewind", "--to", before_attack.isoformat(), "--key-id",
                  f"env:{ROOM_KEY_ENV}", "--secret-key", f"env:{ROOM_SECRET_ENV}")  # fmt: skip
    assert rewound.returncode == 0, rewound.stderr
    tested = run("restore-test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    clean = run("backup", "find-clean")
    assert clean.returncode == 0 and "newest clean backup" in clean.stdout, clean.stderr
