"""The lab's mail room: an SMTP server on loopback that keeps every message it is given.

``python -m lab.mailroom --port 19025 --maildir DIR --lifetime SECONDS``

The lab inventory's `notifications.smtp` points here, so incident notices, failed
backups and approvals that `dr` mails to a roster during a drill land as files
(`DIR/NNNNNN.eml`, whole messages as received) instead of nowhere; `read_mail` gives
them back to tests and benchmarks. Loopback only: lab mail never leaves the machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from lab.credit import DEFAULT_LIFETIME_S, stop_on_signals

LISTEN = "127.0.0.1"


class MailRoom:
    """aiosmtpd's handler: each message to its own file, written atomically."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        existing = [int(p.stem) for p in maildir.glob("*.eml") if p.stem.isdigit()]
        self._numbers = itertools.count(max(existing, default=0) + 1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            number = next(self._numbers)
        final = self.maildir / f"{number:06d}.eml"
        partial = final.with_suffix(".part")
        partial.write_bytes(envelope.original_content or envelope.content)
        os.replace(partial, final)
        return "250 OK"


def argv(maildir: Path, port: int, lifetime: float) -> list[str]:
    """How the lab starts the mail room (lab/lab.py)."""
    return [
        sys.executable,
        "-m",
        "lab.mailroom",
        "--port",
        str(port),
        "--maildir",
        str(maildir),
        "--lifetime",
        str(lifetime),
    ]


def read_mail(maildir: Path) -> list[EmailMessage]:
    """Every message the mail room kept, oldest first."""
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(maildir.glob("*.eml"))
    ]


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.mailroom")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
    args = parser.parse_args(argv_)
    # Imported here: lab/lab.py loads this module for `argv`, on every lab host command.
    from aiosmtpd.controller import Controller

    args.maildir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    stop_on_signals(stop)
    controller = Controller(MailRoom(args.maildir), hostname=LISTEN, port=args.port)
    controller.start()
    try:
        stop.wait(args.lifetime)
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
