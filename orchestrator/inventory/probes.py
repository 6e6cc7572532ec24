"""How the runbooks verify a service and a branch: probes and branch checks, as data.

A pair's `probe:` says how a takeover proves the service works end to end. Production
probes never write business data: an HTTP GET of a health URL, a read-only SQL query (run
in a read-only transaction), or a write through a designated test account that the
service marks as a test. A write without such an account (the drill lab's old loan) is
refused in a production inventory at load, where the operator can still fix it.

A site's `check:` says how a branch confirms that it reaches the service: a host there
that runs python3 or a command over SSH, a TCP connection from this machine to a device
at the branch, the switch's view of the branch's port, or a person at the branch who
confirms (teller PCs are mostly Windows, reachable by nothing dr speaks).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, IPvAnyAddress
from pydantic_core import PydanticCustomError

from orchestrator.inventory.command_templates import quoted_message, quoted_placeholders
from orchestrator.inventory.field_types import HttpUrl, Port
from orchestrator.inventory.names import Label, Name
from orchestrator.inventory.strict import StrictModel

# What a read-only probe query may start with: a typo'd DELETE is caught at load, and the
# read-only transaction refuses whatever slips past this.
_READ_ONLY_START = re.compile(r"^\s*(select|with|values|show|table)\b", re.IGNORECASE)


def _read_only_query(value: str) -> str:
    if not _READ_ONLY_START.match(value) or ";" in value.strip().rstrip(";"):
        raise PydanticCustomError(
            "read_only_query",
            "a probe query is one read-only statement (SELECT, WITH, VALUES, SHOW or TABLE)",
        )
    return value


ReadOnlyQuery = Annotated[str, AfterValidator(_read_only_query)]


def _url_template(value: str) -> str:
    inside = quoted_placeholders(value, ("url",))
    if inside:
        raise PydanticCustomError("command_template", quoted_message(inside, value))
    return value


CheckCommand = Annotated[str, Field(min_length=1), AfterValidator(_url_template)]
Vantage = Literal["branches", "orchestrator"]


class HttpProbe(StrictModel):
    """GET a health URL (default: the pair's service_url) and expect a status, optionally
    a piece of the body. Asked from the branch hosts (`branches`, through the VIP as a
    branch sees it) or from this machine (`orchestrator`)."""

    kind: Literal["http"]
    url: HttpUrl | None = None
    expect_status: int = Field(default=200, ge=100, le=599)
    expect_body: str | None = None
    vantage: Vantage = "branches"


class SqlProbe(StrictModel):
    """One read-only query against the pair's database at the VIP, from this machine, in
    a read-only transaction; it must return at least one row."""

    kind: Literal["sql"]
    query: ReadOnlyQuery = "SELECT 1"


class TestWriteProbe(StrictModel):
    """A write through a designated test account, read back: the service must mark it as
    a test (`is_test: true` in its answers), so nothing reports it as business.
    POST `body` to `write_url` (default: the service_url's origin + /loans) with the
    account in the `account_header`; read it back at write_url/ID."""

    kind: Literal["test-write"]
    # None only in a drill inventory: a plain business write (the lab's own data).
    account: Label | None = None
    account_header: str = Field(default="X-Test-Account", pattern=r"^[A-Za-z0-9-]{1,64}$")
    write_url: HttpUrl | None = None
    body: dict[str, str | int] = {"amount": "0.01"}
    vantage: Vantage = "branches"


ServiceProbe = Annotated[HttpProbe | SqlProbe | TestWriteProbe, Field(discriminator="kind")]
PROBE_KINDS = ("http", "sql", "test-write")


class SshPythonCheck(StrictModel):
    """A host at the branch runs python3 over SSH and fetches the service's URL."""

    kind: Literal["ssh-python"]
    host: Name | None = None  # default: the first host of the site


class SshCommandCheck(StrictModel):
    """A host at the branch runs `command` over SSH ({url}: the service's URL, filled in
    shell-quoted); exit 0 means the branch reaches the service."""

    kind: Literal["ssh-command"]
    host: Name | None = None
    command: CheckCommand


class TcpConnectCheck(StrictModel):
    """This machine opens a TCP connection to a device at the branch (its router's SSH
    port, a teller PC's RDP port): the path through the branch's line carries traffic."""

    kind: Literal["tcp-connect"]
    address: IPvAnyAddress
    port: Port


class SwitchViewCheck(StrictModel):
    """The data-centre switch's view: carrier on the ports the branch's traffic crosses."""

    kind: Literal["switch-view"]


class PersonCheck(StrictModel):
    """A person at the branch tries the credit system and confirms (phone, then dr)."""

    kind: Literal["person"]
    phone: str | None = None
    instructions: str | None = None


BranchCheck = Annotated[
    SshPythonCheck | SshCommandCheck | TcpConnectCheck | SwitchViewCheck | PersonCheck,
    Field(discriminator="kind"),
]


def probe_refusals(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """(path, message) for each business write a production inventory asks for: a
    `test-write` probe without the designated test account."""
    if not isinstance(data, dict) or data.get("environment") != "production":
        return []
    pairs = data.get("host_pairs")
    found: list[tuple[tuple[Any, ...], str]] = []
    for index, pair in enumerate(pairs if isinstance(pairs, list) else []):
        probe = pair.get("probe") if isinstance(pair, dict) else None
        if not isinstance(probe, dict) or probe.get("kind") != "test-write":
            continue
        if not probe.get("account"):
            found.append(
                (
                    ("host_pairs", index, "probe", "kind"),
                    "a production probe may not write business data: name the designated "
                    "test account the service marks as a test (account: NAME), or use "
                    "kind: http (a health URL) or kind: sql (a read-only query)",
                )
            )
    return found
