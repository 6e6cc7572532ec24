"""Field types of the inventory that check more than their Python type: ports, addresses
with prefixes, cron schedules, e-mail addresses, time zones, absolute paths."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, IPvAnyInterface
from pydantic_core import PydanticCustomError

AlertLevel = Literal["blue", "yellow", "orange", "red"]
# The seed's three alert categories; each has its own escalation rules (DOMAIN.md).
AlertCategory = Literal["network", "equipment", "system"]
Network = Literal["funds", "nonfunds"]
# strict: YAML's `true` is no port (lax validation would read it as port 1).
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]


def _port_name_as_text(value: Any) -> Any:
    # `port: 1` is how people write switch port 1; YAML reads it as a number.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# What a switch's CLI or a UPS calls a port: sent to the device as part of a command, so
# no spaces, newlines or other control characters (a newline would be a second command).
_PORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}")


def _check_port_name(value: str) -> str:
    if not _PORT_NAME.fullmatch(value):
        raise PydanticCustomError(
            "port_name",
            "a port is letters, digits, '/', '.', '_', ':' and '-', starting with a letter "
            "or digit, e.g. 1 or GigabitEthernet0/0/1",
        )
    return value


PortName = Annotated[str, BeforeValidator(_port_name_as_text), AfterValidator(_check_port_name)]
"""A switch port or UPS outlet label ("1", "GigabitEthernet0/0/1")."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?-]+$")


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise PydanticCustomError("email", "not an e-mail address (expected name@example.com)")
    return value


def _check_cron(value: str) -> str:
    # 5 fields as in crontab; 6 with a leading seconds field (drills, tests: a backup
    # every few seconds), as Quartz and Spring write it.
    fields = value.split()
    if len(fields) not in (5, 6) or not all(_CRON_FIELD.match(f) for f in fields):
        raise PydanticCustomError(
            "cron",
            "a schedule is a cron expression with 5 fields (minute hour day-of-month month "
            "day-of-week), e.g. '30 1 * * *' for 01:30 every day, or 6 with seconds first; "
            "got {count} field(s)",
            {"count": len(fields)},
        )
    return value


# The characters RFC 3986 allows in a URL: no spaces, quotes, backquotes, backslashes or
# control characters. Those left ($ ; & ( ) ') are legal in URLs and reach a shell only
# quoted (runbooks/_dual_host.py, fleet_check.py).
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _check_http_url(value: str) -> str:
    if not _is_http_url(value):
        raise PydanticCustomError(
            "http_url",
            "expected an http:// or https:// URL without spaces, quotes or control "
            "characters, e.g. http://10.77.0.10:8080/health",
        )
    return value


def _is_http_url(value: str) -> bool:
    if not _URL_CHARACTERS.fullmatch(value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port out of range
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


# NUL ends a path for the kernel; a newline would start a new line in a configuration
# file dr writes (pgBackRest's) or in a command's output dr reads.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_absolute(value: str) -> str:
    if not value.startswith("/"):
        raise PydanticCustomError(
            "absolute_path", "backup paths are absolute paths on the host, e.g. /srv/credit"
        )
    if _CONTROL.search(value):
        raise PydanticCustomError(
            "absolute_path", "a path may not hold control characters (NUL, newline, tab, ESC)"
        )
    return value


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "unknown time zone; use an IANA name such as Asia/Shanghai"
        ) from None
    return value


def _require_prefix(value: Any) -> Any:
    # A bare address would be taken as a /32 and the VIP would be unreachable from its own
    # subnet after a switchover; the prefix length must be written down.
    if isinstance(value, str) and "/" not in value:
        raise PydanticCustomError(
            "vip_prefix", "write the address with its prefix length, e.g. 10.77.0.10/24"
        )
    return value


_RESTIC_SFTP = re.compile(r"^sftp:[^@:/\s]+@[^:/\s]+:/\S*$")
_RESTIC_S3 = re.compile(r"^s3:https?://[^/@\s]+/[^/\s]+(/\S*)?$")
_RESTIC_HINT = (
    "a repository is an absolute path (/srv/restic/credit), sftp:USER@HOST:/PATH or "
    "s3:https://ENDPOINT/BUCKET[/PREFIX]"
)


def _check_restic_location(value: str) -> str:
    if value.startswith("sftp:"):
        if not _RESTIC_SFTP.match(value):
            raise PydanticCustomError(
                "restic_repository", "an SFTP repository is written sftp:USER@HOST:/PATH"
            )
        return value
    if value.startswith("s3:"):
        # No user:password@ in the URL: S3 keys are secret references of their own.
        if not _RESTIC_S3.match(value):
            raise PydanticCustomError(
                "restic_repository",
                "an S3 repository is written s3:https://ENDPOINT/BUCKET[/PREFIX], with no "
                "credentials in it (they go in the s3: block as references)",
            )
        return value
    if not value.startswith("/"):
        raise PydanticCustomError("restic_repository", _RESTIC_HINT)
    return value


def _check_restic_tag(value: str) -> str:
    if not re.match(r"^[^\s,]+$", value):
        raise PydanticCustomError(
            "restic_tag", "a tag must be non-empty and contain no spaces or commas"
        )
    if value.startswith("dr-"):
        raise PydanticCustomError(
            "restic_tag", "tags starting with 'dr-' are reserved for dr's own bookkeeping"
        )
    return value


Email = Annotated[str, AfterValidator(_check_email)]
ResticLocation = Annotated[str, AfterValidator(_check_restic_location)]
ResticTag = Annotated[str, AfterValidator(_check_restic_tag)]
Vip = Annotated[IPvAnyInterface, BeforeValidator(_require_prefix)]
Cron = Annotated[str, AfterValidator(_check_cron)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
AbsolutePath = Annotated[str, AfterValidator(_check_absolute)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]


# What pg_dump and libpq would read as a connection string rather than a name ("host=x
# dbname=y" redirects the dump, and its password, elsewhere), or cannot hold: PostgreSQL
# keeps 63 bytes of a name.
_DB_NAME_UNSAFE = re.compile(r"[\s='\"\\\x00-\x1f\x7f]")


def _check_database_name(value: str) -> str:
    if not value or _DB_NAME_UNSAFE.search(value) or "://" in value:
        raise PydanticCustomError(
            "database_name",
            "a database name may not be empty or hold spaces, '=', quotes, backslashes, "
            "control characters or '://' (a client would read it as a connection string)",
        )
    if len(value.encode()) > 63:
        raise PydanticCustomError("database_name", "PostgreSQL keeps at most 63 bytes of a name")
    return value


DatabaseName = Annotated[str, AfterValidator(_check_database_name)]
"""The name of a PostgreSQL database, never a connection string."""

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
"""libpq's sslmode; production expects verify-full (`dr inventory check` warns otherwise)."""
