"""The lab's credit-reporting system (征信系统) and the instruments that watch it.

- ``schema``: tables, synthetic data and per-table checksums;
- ``service``: the HTTP service on the VIP that writes loans and report messages;
- ``loadgen``: writes at a bounded rate and logs every acknowledged write;
- ``prober``: polls ``/health`` from a branch and logs every up/down transition;
- ``observe``: turns those logs into the outages and lost writes a drill really had.

The programs run as ``python -m lab.credit.NAME`` inside lab namespaces.
This module holds the little they share; it imports only the standard library, so the
load generator and the prober start fast and need no database driver.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

# Every lab process is bounded; this is the lab's default (docs/lab.md).
DEFAULT_LIFETIME_S = 6 * 3600


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 with microseconds and offset: exact, sortable, and parsed back losslessly."""
    return moment.isoformat(timespec="microseconds")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` in one step, so a reader never sees half a status file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JsonLines:
    """An append-only JSON-lines file, flushed per line so a killed writer loses nothing
    it reported (and a reader tails it while it grows)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: TextIO = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end a lab program cleanly (final status written) instead of dying."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def direct_http_opener() -> urllib.request.OpenerDirector:
    """An HTTP client that ignores proxy variables: lab traffic must take the lab's own
    network path, never a proxy the operator's shell happens to name."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log_event(event: str, **fields: Any) -> None:
    """One JSON line on stderr: the lab collects stderr of every process into a file."""
    record = {"at": iso(utc_now()), "event": event, **fields}
    print(json.dumps(record, ensure_ascii=False, default=str), file=sys.stderr, flush=True)
