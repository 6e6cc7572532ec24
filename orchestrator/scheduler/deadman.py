"""A dead-man's switch per job (`scheduler.pings`): the healthchecks.io convention, which
its self-hosted and commercial kin (Cronitor, Uptime Kuma's push monitors) also read.

The job POSTs to URL/start when it begins, to URL when it succeeded and to URL/fail when
it failed, with a short JSON body saying which job and why (never a secret). The switch
then raises the alarm by itself when a ping is late: the one alert that still comes when
this daemon, its machine or its mail are down.

The URL holds the check's token, so it is read from its secret reference at the moment
of the ping and never logged or journaled: errors name the job, not the URL. A ping that
fails is journaled (`scheduler.ping_failed`) and logged; it never fails the job.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Literal

from orchestrator.errors import DrError, UserInputError
from orchestrator.inventory.models import Inventory
from orchestrator.inventory.secrets import resolve_secret
from orchestrator.journal import Journal
from orchestrator.masking import known_secrets

log = logging.getLogger(__name__)

Stage = Literal["start", "success", "fail"]
# healthchecks.io keeps the first 100 kB of a body; a reason is a line, not a log.
MAX_REASON = 1000
_SUFFIX: dict[Stage, str] = {"start": "/start", "success": "", "fail": "/fail"}


class PingFailed(Exception):
    """The switch could not be told; the text names no URL."""


def ping_url(base: str, stage: Stage) -> str:
    """`base` with /start or /fail added to its path (before any query, which a
    healthchecks slug URL may carry: ?create=1)."""
    parts = urllib.parse.urlsplit(base.strip())
    path = parts.path.rstrip("/") + _SUFFIX[stage]
    return urllib.parse.urlunsplit(parts._replace(path=path))


def ping_body(job_id: str, stage: Stage, reason: str = "") -> bytes:
    """What the switch shows beside the ping: the job and, on failure, why."""
    doc = {"job": job_id, "stage": stage}
    if reason:
        # Whatever secrets this process has read are masked out, as in the journal.
        text = known_secrets()(reason)
        doc["reason"] = text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
    return json.dumps(doc, ensure_ascii=False).encode()


def check_pings(inventory: Inventory, job_ids: Iterable[str]) -> None:
    """Every job `scheduler.pings` names is one the daemon runs (raised at its start)."""
    known = set(job_ids)
    unknown = sorted(set(inventory.scheduler.pings) - known)
    if unknown:
        can = ", ".join(sorted(j for j in known if ":" in j)) or "none"
        raise UserInputError(
            f"scheduler.pings names {', '.join(unknown)}, which the inventory does not "
            f"schedule; the jobs that can ping are: {can} / scheduler.pings 中的任务不存在"
        )


def ping(
    inventory: Inventory, journal: Journal, job_id: str, stage: Stage, reason: str = ""
) -> bool:
    """Tell the job's switch, if it has one; False (journaled, logged) when that failed."""
    ref = inventory.scheduler.pings.get(job_id)
    if ref is None:
        return True
    try:
        url = ping_url(_checked(resolve_secret(ref)), stage)
        _post(url, ping_body(job_id, stage, reason), inventory.scheduler.ping_timeout)
    except (PingFailed, DrError) as err:
        error = err.message if isinstance(err, DrError) else str(err)
        log.warning("dead-man's switch of job %s (%s): %s", job_id, stage, error)
        data = {"job": job_id, "stage": stage, "reference": str(ref), "error": error}
        try:
            journal.append("scheduler.ping_failed", data=data)
        except Exception:  # the job's own outcome matters more than this record
            log.exception("could not journal the failed ping of job %s", job_id)
        return False
    log.debug("dead-man's switch of job %s told: %s", job_id, stage)
    return True


def _checked(url: str) -> str:
    """An http(s) URL with a host; anything else (file://) is refused without quoting it."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise PingFailed("the ping URL cannot be parsed; fix its secret") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PingFailed("the ping URL is not an http:// or https:// URL with a host")
    if any(c.isspace() or not c.isprintable() for c in url.strip()):
        raise PingFailed("the ping URL contains spaces or control characters")
    return url.strip()


def _post(url: str, body: bytes, timeout: float) -> None:
    try:
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as err:
        raise PingFailed(f"the switch answered HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        # A socket error names the address at most; the URL is masked in case one did not.
        reason = str(getattr(err, "reason", err)).replace(url, "***")
        raise PingFailed(f"cannot reach the switch ({reason})") from None
    except Exception as err:
        # http.client's and urllib's other errors may quote the URL: the class only.
        raise PingFailed(f"the ping failed ({type(err).__name__})") from None
