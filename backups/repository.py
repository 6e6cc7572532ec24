"""Where a restic repository lives, and what restic needs in its environment to reach it.

Three kinds, told apart by the inventory's location string:
  /srv/restic/credit                      a local path
  sftp:USER@HOST:/srv/restic/credit       SFTP, through our own ssh command line
  s3:https://ENDPOINT/BUCKET[/PREFIX]     S3 or an S3-compatible store
Credentials are references (SecretRef) resolved at the moment restic starts: the
password reaches restic as RESTIC_PASSWORD_FILE (file: references, used in place) or as
RESTIC_PASSWORD_COMMAND="printenv NAME" (env: references), S3 keys as AWS_* variables of
that child only. None of them is ever an argument.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backups.execute import Masker
from orchestrator.errors import BackupError, UserInputError
from orchestrator.inventory import RepositoryTarget
from orchestrator.inventory.secrets import SecretRef, resolve_secret

_SFTP = re.compile(r"^sftp:(?P<user>[^@:/\s]+)@(?P<host>[^:/\s]+):(?P<path>/\S*)$")


@dataclass(frozen=True)
class Repository:
    """One repository of a backup set (its main one, or its copy_to)."""

    location: str
    kind: str  # "local", "sftp" or "s3"
    target: RepositoryTarget

    @property
    def password(self) -> SecretRef:
        return self.target.password

    def secrets(self, masker: Masker) -> None:
        """Resolve every secret now (fails early, with what to do) and teach the masker."""
        masker.add(resolve_secret(self.password))
        if self.target.s3 is not None:
            masker.add(resolve_secret(self.target.s3.access_key_id))
            masker.add(resolve_secret(self.target.s3.secret_access_key))

    def environment(self, prefix: str = "RESTIC_") -> dict[str, str]:
        """RESTIC_REPOSITORY and the password source; prefix RESTIC_FROM_ for `copy`."""
        env = {f"{prefix}REPOSITORY": self.location}
        ref = self.password
        if ref.kind == "file":
            env[f"{prefix}PASSWORD_FILE"] = str(ref.path)
        else:
            # restic runs this itself; it prints the variable restic inherited from us,
            # given to restic explicitly (children inherit no secrets by default).
            env[f"{prefix}PASSWORD_COMMAND"] = f"printenv {ref.target}"
            env[ref.target] = resolve_secret(ref)
        return env

    def credentials_environment(self) -> dict[str, str]:
        """AWS_* for an S3 repository; empty for the others."""
        s3 = self.target.s3
        if s3 is None:
            return {}
        env = {
            "AWS_ACCESS_KEY_ID": resolve_secret(s3.access_key_id),
            "AWS_SECRET_ACCESS_KEY": resolve_secret(s3.secret_access_key),
        }
        if s3.region:
            env["AWS_DEFAULT_REGION"] = s3.region
        return env

    def options(self) -> list[str]:
        """Extended options (-o ...) for this repository."""
        if self.kind != "sftp":
            return []
        return ["-o", f"sftp.command={self.sftp_command()}"]

    def sftp_command(self) -> str:
        """ssh with our key and our known_hosts only: a changed host key is refused."""
        sftp = self.target.sftp
        match = _SFTP.match(self.location)
        if sftp is None or match is None:
            raise UserInputError(f"repository {self.location}: not an SFTP repository")
        argv = [
            "ssh",
            "-F", "/dev/null",
            "-i", str(sftp.key_file),
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={sftp.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={int(sftp.connect_timeout)}",
            "-o", "ServerAliveInterval=30",
            "-p", str(sftp.port),
            "-l", match["user"],
            match["host"],
            "-s", "sftp",
        ]  # fmt: skip
        return shlex.join(argv)

    # -- S3 -----------------------------------------------------------------------------

    def s3_endpoint_and_bucket(self) -> tuple[str, str]:
        parts = urlsplit(self.location.removeprefix("s3:"))
        bucket = parts.path.strip("/").split("/", 1)[0]
        return f"{parts.scheme}://{parts.netloc}", bucket

    def provision_bucket(self) -> bool:
        """Create the S3 bucket if missing and turn versioning on, so that a deleted or
        overwritten object (ransomware, a bad prune) can still be recovered from the
        store. Returns True if the bucket was created."""
        if self.kind != "s3":
            return False
        client = self._s3_client()
        endpoint, bucket = self.s3_endpoint_and_bucket()
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            created = not _bucket_exists(client, bucket)
            if created:
                client.create_bucket(Bucket=bucket, **self._bucket_location())
            status = client.get_bucket_versioning(Bucket=bucket).get("Status")
            # Only when it is off: the host's own key may not change it (README, "Backups
            # an attacker cannot delete"), and need not when it is already on.
            if status != "Enabled":
                client.put_bucket_versioning(
                    Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
                )
                status = client.get_bucket_versioning(Bucket=bucket).get("Status")
        except (BotoCoreError, ClientError) as err:
            raise BackupError(
                f"cannot provision S3 bucket {bucket!r} at {endpoint}: {err}"
            ) from None
        if status != "Enabled":
            raise BackupError(f"S3 bucket {bucket!r} at {endpoint}: versioning is not on")
        return created

    def bucket_versioning(self) -> str | None:
        _, bucket = self.s3_endpoint_and_bucket()
        return self._s3_client().get_bucket_versioning(Bucket=bucket).get("Status")

    def _bucket_location(self) -> dict[str, Any]:
        region = self.target.s3.region if self.target.s3 else None
        if region and region != "us-east-1":
            return {"CreateBucketConfiguration": {"LocationConstraint": region}}
        return {}

    def _s3_client(self) -> Any:
        import boto3

        endpoint, _ = self.s3_endpoint_and_bucket()
        creds = self.credentials_environment()
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            region_name=(self.target.s3.region if self.target.s3 else None) or "us-east-1",
        )


def _bucket_exists(client: Any, bucket: str) -> bool:
    """HeadBucket, which a key limited to its own bucket may ask (unlike ListBuckets)."""
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as err:
        if str(err.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def repository_of(target: RepositoryTarget) -> Repository:
    location = target.repository
    if location.startswith("sftp:"):
        kind = "sftp"
    elif location.startswith("s3:"):
        kind = "s3"
    else:
        kind = "local"
        location = str(Path(location))
    return Repository(location=location, kind=kind, target=target)
