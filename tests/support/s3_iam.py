"""moto's S3 over TLS in its own process, with IAM checked: keys have only what their
policies grant, as on a real S3 service (the lab's S3 does the same, lab/s3.py).

moto keeps its switch for IAM checks, and every bucket, in module globals: in a process
of its own they reach no other test's moto. Users are made with a bootstrap key while
moto still lets everything through; `enforce()` then turns the checks on.

What moto 5 checks, found by trying (tests/integration/test_append_only_s3.py says it
again where it matters): every S3 request's signature and the action it maps to against
the user's policies, Deny before Allow; Object Lock retention on deleting a version. What
it does not: DeleteObjects (a POST) is allowed as s3:DeleteObject even for entries that
name a version (AWS asks s3:DeleteObjectVersion), PutObjectRetention is allowed as
s3:PutObject and may shorten a COMPLIANCE lock, objects completed by a multipart upload
get no default retention, and HeadBucket is its own action s3:HeadBucket (AWS checks
s3:ListBucket).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from orchestrator.local_machine import find_free_port
from tests.support.s3_tls import HOST_NAME

REGION = "us-east-1"
# moto's own name for HeadBucket, which AWS authorizes as s3:ListBucket.
MOTO_HEAD_BUCKET = "s3:HeadBucket"
_BOOTSTRAP = ("bootstrap", "bootstrap")


class IamMotoServer:
    def __init__(self, port: int, cert_file: Path, key_file: Path) -> None:
        self.port = port
        self.cert_file = cert_file
        self.key_file = key_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"{HOST_NAME}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.endpoint}"

    def start(self) -> None:
        """Start moto and wait for its own word that it listens. A port seen in use is
        not proof: with tests in two workers another server may hold the port chosen a
        moment ago (then ours cannot bind and exits, and a new port is tried)."""
        for _ in range(3):
            command = [sys.executable, "-m", __name__, str(self.port), str(self.cert_file),
                       str(self.key_file)]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            self._process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
            assert self._process.stdout is not None
            # One line, READY, once the server is bound; nothing (EOF) if it exits first.
            if self._process.stdout.readline().strip() == b"READY":
                return
            self._process.wait(timeout=10)
            self._process = None
            self.port = find_free_port()
        raise RuntimeError("moto could not listen on a free port in three tries")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def client(self, service: str, key: tuple[str, str]) -> Any:
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=key[0],
            aws_secret_access_key=key[1], verify=str(self.cert_file),
        )  # fmt: skip

    def create_user(self, name: str, policy: dict[str, Any]) -> tuple[str, str]:
        """A user with one inline policy, and its access key (before `enforce`)."""
        iam = self.client("iam", _BOOTSTRAP)
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def enforce(self) -> None:
        """From now on every request needs a known key and a policy that allows it."""
        context = ssl.create_default_context(cafile=str(self.cert_file))
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            answer.read()


def _serve(port: int, cert_file: str, key_file: str) -> None:
    from tests.support.s3_tls import TlsMotoServer

    server = TlsMotoServer(port, Path(cert_file), Path(key_file))
    server.start()
    print("READY", flush=True)
    threading.Event().wait()  # until the test stops the process


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
