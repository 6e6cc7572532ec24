"""Host pairs (双机): the primary and standby of one business system, its database, how
the old primary is fenced before the standby takes over, and the commands that drive
the database and the service on each host."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, IPvAnyAddress, Tag
from pydantic_core import PydanticCustomError

from orchestrator.inventory.command_templates import quoted_message, quoted_placeholders
from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import (
    DatabaseName,
    HttpUrl,
    Port,
    PortName,
    SslMode,
    Vip,
)
from orchestrator.inventory.names import Identifier, InterfaceName, Label, Name
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.probes import HttpProbe, ServiceProbe
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel
from orchestrator.inventory.transactions import TransactionTable

# What the runbooks fill into a pair's control commands and a fencing command.
CONTROL_PLACEHOLDERS = ("host", "upstream", "port", "replication_user")
FENCE_PLACEHOLDERS = ("host", "address")


def _template(names: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        inside = quoted_placeholders(value, names)
        if inside:
            raise PydanticCustomError("command_template", quoted_message(inside, value))
        return value

    return AfterValidator(check)


ControlCommand = Annotated[str, _template(CONTROL_PLACEHOLDERS)]
"""A shell command run on a pair's host; its placeholders stand outside quotes."""
FenceCommand = Annotated[Label, _template(FENCE_PLACEHOLDERS)]


class Database(StrictModel):
    port: Port = 5432
    name: DatabaseName
    user: Identifier
    password: SecretRef | None = None
    # TLS to the server (libpq's sslmode, and the CA file its certificate must chain to):
    # production wants verify-full; "prefer" (libpq's default) checks no certificate.
    sslmode: SslMode = "prefer"
    sslrootcert: InventoryPath | None = None
    # Streaming replication (rebuild-standby): the role a standby connects as, its
    # password, and each pair host's address for replication where that is not its
    # inventory address (a data-centre LAN apart from the management network).
    replication_user: Identifier = "replicator"
    replication_password: SecretRef | None = None
    replication_addresses: dict[Name, IPvAnyAddress] = {}


class SshFence(StrictModel):
    """Stop the old primary over SSH (only safe while it still answers)."""

    method: Literal["ssh"]


class UpsOutletFence(StrictModel):
    """Switch off the old primary's outlet on a managed UPS / PDU."""

    method: Literal["ups-outlet"]
    ups: Name
    outlet: PortName


class ManualFence(StrictModel):
    """A person isolates the old primary (pulls the cable) and confirms."""

    method: Literal["manual"]
    instructions: str | None = None


class CommandFence(StrictModel):
    """Run a local command (e.g. a vendor's IPMI tool); exit 0 means fenced."""

    method: Literal["command"]
    command: FenceCommand


_FENCE_METHODS = ("ssh", "ups-outlet", "manual", "command")


def _fence_tag(value: Any) -> str | None:
    method = value.get("method") if isinstance(value, dict) else getattr(value, "method", None)
    # Tags are prefixed so they never collide with a key name in an error's location
    # (the "command" method has a "command" key); the loader skips them when locating.
    return f"method={method}" if method in _FENCE_METHODS else None


FenceMethod = Annotated[
    Annotated[SshFence, Tag("method=ssh")]
    | Annotated[UpsOutletFence, Tag("method=ups-outlet")]
    | Annotated[ManualFence, Tag("method=manual")]
    | Annotated[CommandFence, Tag("method=command")],
    Discriminator(
        _fence_tag,
        custom_error_type="fence_method",
        custom_error_message="a fencing entry needs 'method:' set to one of: "
        + ", ".join(_FENCE_METHODS),
    ),
]


class PairControl(StrictModel):
    """How the pair's database and service are driven on a host, as shell commands run
    over SSH on that host (`{host}` is replaced by its inventory name, shell-quoted as
    every placeholder is, so it stands outside quotes: command_templates.py).
    A database command left out (None) is the default for Debian's PostgreSQL 15 cluster
    `main`, which the runbooks take from orchestrator/postgresql/debian_commands.py: the
    inventory only describes, it knows no PostgreSQL. The service defaults fit a systemd unit
    `credit-report`.

    `db_status` prints one JSON object: in_recovery, receive_lsn, replay_lsn and
    last_replay_at (ISO time of the last replayed commit, null when none);
    `service_running` exits 0 only while the service runs."""

    db_status: ControlCommand | None = None
    db_start: ControlCommand | None = None
    db_stop: ControlCommand | None = None
    db_promote: ControlCommand | None = None
    service_start: ControlCommand = "systemctl start credit-report"
    service_stop: ControlCommand = "systemctl stop credit-report"
    service_running: ControlCommand = "systemctl is-active --quiet credit-report"
    # Planned switchover and standby rebuild (runbooks/_standby.py). `{upstream}`,
    # `{port}` and `{replication_user}` are the primary to follow; `db_store_password`
    # reads one .pgpass line on stdin (never a command-line argument); `db_replicas`
    # prints a JSON list of pg_stat_replication rows (application_name, client_addr,
    # state, replay_lsn); `db_controldata` prints pg_controldata's report.
    db_checkpoint: ControlCommand | None = None
    db_controldata: ControlCommand | None = None
    db_replicas: ControlCommand | None = None
    db_store_password: ControlCommand | None = None
    db_rewind: ControlCommand | None = None
    db_base_backup: ControlCommand | None = None
    # Synchronous replication on the primary (`replication: synchronous`), and its
    # undoing on a promoted standby that has no standby of its own yet.
    db_synchronous_on: ControlCommand | None = None
    db_synchronous_off: ControlCommand | None = None
    # Start the stopped cluster as a read-only copy of its own history (standby mode, no
    # upstream, no archive), so the writes only it holds can be read before a rewind.
    db_start_read_only: ControlCommand | None = None


class HostPair(StrictModel):
    """A primary/standby pair (双机) serving one business system."""

    name: Name
    service: Label
    primary: Name
    standby: Name
    vip: Vip
    vip_interface: InterfaceName = "eth0"
    database: Database | None = None
    service_url: HttpUrl | None = None
    # How a takeover verifies the service end to end (probes.py): a GET of the health
    # URL unless the inventory says otherwise; never a business write in production.
    probe: ServiceProbe = HttpProbe(kind="http")
    fencing: list[FenceMethod] = []
    control: PairControl = PairControl()
    description: str | None = None
    # Replication lag (runbooks/_lag_gate.py, the scheduler's lag watch): a cutover asks
    # leadership before promoting a standby further behind than this many bytes of WAL
    # (Patroni's maximum_lag_on_failover) or seconds (the pair's RPO); `synchronous`
    # replication promises RPO 0 and the cutover holds it to that.
    replication: Literal["asynchronous", "synchronous"] = "asynchronous"
    max_lag_on_failover: Annotated[int, Field(ge=0, strict=True)] | None = None
    rpo: Duration | None = None
    # Where the database keeps the business the branches would re-enter after a loss
    # (transactions.py): without it a rebuild cannot list the lost writes by branch.
    transactions: list[TransactionTable] = []
