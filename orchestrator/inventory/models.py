"""The inventory's shape: every section an operator may write, validated strictly.

Every model forbids unknown keys: a misspelt key (`prot: 2222`) silently ignored would leave
a default in force during an emergency, which is worse than refusing the file. Which names
refer to which (a host's site, a pair's hosts, ...) is checked by `references`, because
those checks need the whole file and report with line numbers.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    IPvAnyAddress,
    NonNegativeInt,
    PositiveInt,
    PrivateAttr,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from orchestrator.errors import UserInputError
from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import (
    AbsolutePath,
    AlertLevel,
    Cron,
    Email,
    HttpUrl,
    Network,
    Port,
    PortName,
    ResticLocation,
    ResticTag,
    TimeZone,
    Vip,
)
from orchestrator.inventory.names import Label, Name, did_you_mean
from orchestrator.inventory.notifications import Notifications
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.selection import select_hosts


class StrictModel(BaseModel):
    """Base of every inventory model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class SshSettings(StrictModel):
    user: str = "root"
    port: Port = 22
    key_file: InventoryPath | None = None
    known_hosts: InventoryPath | None = None
    password: SecretRef | None = None
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    connect_timeout: float = Field(10, gt=0)


class Defaults(StrictModel):
    ssh: SshSettings = Field(default_factory=SshSettings)


class Site(StrictModel):
    name: Name
    kind: Literal["datacentre", "branch", "backup", "office"]
    description: str | None = None


class Host(StrictModel):
    name: Name
    address: IPvAnyAddress
    site: Name
    roles: list[Name] = []
    tags: list[Name] = []
    ssh: SshSettings = Field(default_factory=SshSettings)
    # Graceful power-down goes in ascending order (1 first); hosts without one go last.
    shutdown_priority: int | None = None
    description: str | None = None


class Database(StrictModel):
    port: Port = 5432
    name: str
    user: str
    password: SecretRef | None = None
    # Streaming replication (rebuild-standby): the role a standby connects as, its
    # password, and each pair host's address for replication where that is not its
    # inventory address (a data-centre LAN apart from the management network).
    replication_user: str = "replicator"
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
    command: Label


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


_PG_STATUS_SQL = (
    "SELECT json_build_object('in_recovery', pg_is_in_recovery(),"
    " 'receive_lsn', pg_last_wal_receive_lsn(), 'replay_lsn', pg_last_wal_replay_lsn(),"
    " 'last_replay_at', pg_last_xact_replay_timestamp())"
)

_PG_REPLICAS_SQL = (
    "SELECT coalesce(json_agg(json_build_object('application_name', application_name,"
    " 'client_addr', host(client_addr), 'state', state, 'replay_lsn', replay_lsn)), '[]')"
    " FROM pg_stat_replication"
)
_PG_BIN, _PG_DATA = "/usr/lib/postgresql/15/bin", "/var/lib/postgresql/15/main"


class PairControl(StrictModel):
    """How the pair's database and service are driven on a host, as shell commands run
    over SSH on that host (`{host}` is replaced by its inventory name). The defaults fit
    Debian's PostgreSQL 15 cluster `main` and a systemd unit `credit-report`.

    `db_status` prints one JSON object: in_recovery, receive_lsn, replay_lsn and
    last_replay_at (ISO time of the last replayed commit, null when none);
    `service_running` exits 0 only while the service runs."""

    db_status: str = f'sudo -u postgres psql -XAtq -c "{_PG_STATUS_SQL}"'
    db_start: str = "pg_ctlcluster 15 main start"
    db_stop: str = "pg_ctlcluster 15 main stop -m fast"
    db_promote: str = "pg_ctlcluster 15 main promote"
    service_start: str = "systemctl start credit-report"
    service_stop: str = "systemctl stop credit-report"
    service_running: str = "systemctl is-active --quiet credit-report"
    # Planned switchover and standby rebuild (runbooks/_standby.py). `{upstream}`,
    # `{port}` and `{replication_user}` are the primary to follow; `db_store_password`
    # reads one .pgpass line on stdin (never a command-line argument); `db_replicas`
    # prints a JSON list of pg_stat_replication rows (application_name, client_addr,
    # state, replay_lsn); `db_controldata` prints pg_controldata's report.
    db_checkpoint: str = "sudo -u postgres psql -XAtq -c CHECKPOINT"
    db_controldata: str = f"{_PG_BIN}/pg_controldata {_PG_DATA}"
    db_replicas: str = f'sudo -u postgres psql -XAtq -c "{_PG_REPLICAS_SQL}"'
    db_store_password: str = "sudo -u postgres sh -c 'umask 077 && cat > ~/.pgpass'"
    db_rewind: str = (
        f"sudo -u postgres {_PG_BIN}/pg_rewind -D {_PG_DATA} --source-server="
        "'host={upstream} port={port} user={replication_user} dbname=postgres' "
        "--write-recovery-conf"
    )
    db_base_backup: str = (
        f"sudo -u postgres sh -c 'rm -rf {_PG_DATA}.before-rebuild && "
        f"mv {_PG_DATA} {_PG_DATA}.before-rebuild && {_PG_BIN}/pg_basebackup -D {_PG_DATA} "
        "-h {upstream} -p {port} -U {replication_user} --write-recovery-conf "
        "--wal-method=stream --checkpoint=fast'"
    )


class HostPair(StrictModel):
    """A primary/standby pair (双机) serving one business system."""

    name: Name
    service: Label
    primary: Name
    standby: Name
    vip: Vip
    vip_interface: str = "eth0"
    database: Database | None = None
    service_url: HttpUrl | None = None
    fencing: list[FenceMethod] = []
    control: PairControl = PairControl()
    description: str | None = None


class Line(StrictModel):
    """A branch's WAN line into the data centre, on the funds or non-funds network."""

    name: Name
    site: Name
    kind: Literal["primary", "standby"]
    carrier: Label
    switch: Name
    port: PortName
    network: Network
    peer_address: IPvAnyAddress | None = None
    bandwidth_mbps: PositiveInt | None = None
    # The branch's forwarding domain on the switch (a bridge, or an access VLAN number),
    # and the port cabled to the other network's switch: what the seed's port-1 cable
    # swap moves between (`line-failover`).
    domain: str | None = None
    cross_connect_port: PortName | None = None
    description: str | None = None


class Switch(StrictModel):
    name: Name
    site: Name
    network: Network
    device_type: Literal["linux", "cisco_ios", "huawei", "hp_comware"]
    address: IPvAnyAddress
    port: Port = 22
    username: str
    password: SecretRef | None = None
    key_file: InventoryPath | None = None
    # The switch that takes over when this one fails (`switch-failover`): it must list
    # every port of this one, and takes each cable in the port of the same name.
    standby: Name | None = None
    ports: dict[PortName, str] = {}
    # Each port's forwarding domain in normal service (a bridge, or an access VLAN
    # number): what the standby is configured with. A port not listed stays detached.
    port_domains: dict[PortName, str] = {}
    description: str | None = None


class Ups(StrictModel):
    """A UPS reachable through a NUT server (upsd)."""

    name: Name
    nut_host: str = "127.0.0.1"
    nut_port: Port = 3493
    ups_name: str
    username: str | None = None
    password: SecretRef | None = None
    protects: list[Name] = []
    low_runtime_seconds: Duration = 300
    vendor_contact: str | None = None
    description: str | None = None


class Generator(StrictModel):
    """A backup generator's controller, read over Modbus TCP."""

    name: Name
    modbus_host: str
    modbus_port: Port = 502
    unit_id: int = Field(1, ge=0, le=247)
    nominal_voltage: float = Field(230, gt=0)
    nominal_frequency: float = Field(50, gt=0)
    voltage_tolerance_pct: float = Field(10, gt=0, lt=100)
    frequency_tolerance_hz: float = Field(1, gt=0)
    stable_seconds: Duration = 180
    mains_wait_seconds: Duration = 600
    description: str | None = None


class Power(StrictModel):
    ups: list[Ups] = []
    generators: list[Generator] = []


class BackupDatabase(StrictModel):
    """A PostgreSQL database dumped (pg_dump -Fc) straight into the repository."""

    name: Label  # the database to dump, on the pair's server
    host_pair: Name | None = None
    source: Literal["primary", "standby"] = "primary"
    format: Literal["custom"] = "custom"


class Retention(StrictModel):
    keep_last: NonNegativeInt | None = None
    keep_hourly: NonNegativeInt | None = None
    keep_daily: NonNegativeInt | None = None
    keep_weekly: NonNegativeInt | None = None
    keep_monthly: NonNegativeInt | None = None
    keep_yearly: NonNegativeInt | None = None


class SftpAccess(StrictModel):
    """How restic reaches an SFTP repository: our key and our known_hosts, strictly."""

    port: Port = 22
    key_file: InventoryPath
    known_hosts: InventoryPath
    connect_timeout: float = Field(10, gt=0)


class S3Access(StrictModel):
    """Credentials (references only) and region of an S3 repository."""

    access_key_id: SecretRef
    secret_access_key: SecretRef
    region: str | None = None


def _check_repository_access(location: str, sftp: object, s3: object) -> None:
    if location.startswith("sftp:") and sftp is None:
        raise PydanticCustomError(
            "repository_access",
            "an SFTP repository needs an 'sftp:' block with key_file and known_hosts",
        )
    if location.startswith("s3:") and s3 is None:
        raise PydanticCustomError(
            "repository_access",
            "an S3 repository needs an 's3:' block with access_key_id and secret_access_key",
        )
    if sftp is not None and not location.startswith("sftp:"):
        raise PydanticCustomError("repository_access", "'sftp:' is only for sftp: repositories")
    if s3 is not None and not location.startswith("s3:"):
        raise PydanticCustomError("repository_access", "'s3:' is only for s3: repositories")


class RepositoryTarget(StrictModel):
    """A restic repository and how to open it (a set's copy_to; also built for its main one)."""

    repository: ResticLocation
    password: SecretRef
    sftp: SftpAccess | None = None
    s3: S3Access | None = None

    @model_validator(mode="after")
    def _access_fits_kind(self) -> RepositoryTarget:
        _check_repository_access(self.repository, self.sftp, self.s3)
        return self


class BackupHooks(StrictModel):
    """Commands run on the machine running `dr backup run` (by /bin/sh).

    `before` runs first; one failing stops the run. `after` always runs, also after a
    failure (so a service stopped by a before hook is started again); it sees
    DR_BACKUP_STATUS=ok|partial|failed.
    """

    before: list[Label] = []
    after: list[Label] = []


class BackupTimeouts(StrictModel):
    """How long each process of a backup may run before its whole process group is
    stopped (SIGINT, then SIGKILL): a hung NFS mount, a stuck SFTP server or a dump
    waiting on a lock must fail the run loudly, not hold the set's lock for ever."""

    # One before/after hook command.
    hook: Duration = Field(600, ge=1)
    # One database dump: pg_dump streamed into restic, from start to snapshot.
    dump: Duration = Field(6 * 3600, ge=1)
    # Any other single restic command (backup of the files, copy, check, prune, dump).
    restic: Duration = Field(24 * 3600, ge=1)


class RestoreExpect(StrictModel):
    """What a validation query's single value must be. `not_older_than` is measured from
    the snapshot's time, not the test's: it asks whether the backup held fresh data."""

    equals: int | float | str | None = None
    min: float | None = None
    max: float | None = None
    not_older_than: Duration | None = None

    @model_validator(mode="after")
    def _says_something(self) -> RestoreExpect:
        if all(v is None for v in (self.equals, self.min, self.max, self.not_older_than)):
            raise PydanticCustomError(
                "empty_expect", "give at least one of equals, min, max, not_older_than"
            )
        return self


class RestoreValidation(StrictModel):
    """One query run against the restored database by `dr restore-test`."""

    name: Label
    sql: str = Field(min_length=1)
    expect: RestoreExpect
    # Which of the set's databases; may be left out when the set has exactly one.
    database: Label | None = None


class RestoreTest(StrictModel):
    """The monthly restore test: queries proving the data is usable, and its targets
    (default: the set's own rto/rpo)."""

    validations: list[RestoreValidation] = []
    rto: Duration | None = None
    rpo: Duration | None = None
    # The period whose largest gap between good backups is measured against the RPO.
    period: Duration = 31 * 86400


def _check_restore_validations(test: RestoreTest, databases: list[BackupDatabase]) -> None:
    names = {d.name for d in databases}
    for check in test.validations:
        if check.database is None and len(names) != 1:
            raise PydanticCustomError(
                "restore_validation_database",
                "restore_test validation {name!r}: name its 'database' (the set has {count})",
                {"name": check.name, "count": len(names)},
            )
        if check.database is not None and check.database not in names:
            raise PydanticCustomError(
                "restore_validation_database",
                "restore_test validation {name!r}: {db!r} is not one of the set's databases",
                {"name": check.name, "db": check.database},
            )


class BackupSet(StrictModel):
    """What restic backs up from one host, where to, how often and for how long."""

    name: Name
    host: Name
    repository: ResticLocation
    password: SecretRef
    sftp: SftpAccess | None = None
    s3: S3Access | None = None
    paths: list[AbsolutePath] = []
    databases: list[BackupDatabase] = []
    tags: list[ResticTag] = []
    hooks: BackupHooks = Field(default_factory=BackupHooks)
    schedule: Cron | None = None
    retention: Retention = Field(default_factory=Retention)
    copy_to: RepositoryTarget | None = None
    # How long to wait for a repository another restic process has locked.
    lock_wait: Duration = 600
    # A lock of this host whose process is gone is removed only once it is this old.
    lock_stale_after: Duration = 3600
    timeouts: BackupTimeouts = Field(default_factory=BackupTimeouts)
    # `dr backup check` reads 1/N of the data each day: every pack once in N days.
    check_cycle_days: PositiveInt = 30
    rto: Duration | None = None
    rpo: Duration | None = None
    restore_test: RestoreTest = Field(default_factory=RestoreTest)
    description: str | None = None

    @model_validator(mode="after")
    def _backs_something_up(self) -> BackupSet:
        if not self.paths and not self.databases:
            raise PydanticCustomError(
                "empty_backup_set", "a backup set needs 'paths', 'databases' or both"
            )
        _check_repository_access(self.repository, self.sftp, self.s3)
        _check_restore_validations(self.restore_test, self.databases)
        return self

    @property
    def main_repository(self) -> RepositoryTarget:
        return RepositoryTarget.model_construct(
            repository=self.repository, password=self.password, sftp=self.sftp, s3=self.s3
        )


def _check_scheduler_cron(value: str) -> str:
    # Like Cron, plus D#N in the day-of-week field (the Nth weekday of the month), which
    # is how "the first Sunday" is written: in plain cron "0 2 1-7 * 0" means days 1-7
    # *or* any Sunday. Whether the fields make sense is checked when the scheduler starts.
    fields = value.split()
    if len(fields) != 5 or not all(re.match(r"^[0-9A-Za-z*/,?#-]+$", f) for f in fields):
        raise PydanticCustomError(
            "cron",
            "a schedule is a cron expression with 5 fields, e.g. '0 2 * * 0#1' for 02:00 "
            "on the first Sunday of each month; got {count} field(s)",
            {"count": len(fields)},
        )
    return value


class SchedulerSettings(StrictModel):
    """`dr scheduler run`: when restore tests run, how late a missed job may still run,
    and where the Prometheus textfile goes."""

    restore_test_schedule: Annotated[str, AfterValidator(_check_scheduler_cron)] = "0 2 * * 0#1"
    # A run missed while the daemon was down still runs on restart if it is at most this
    # late; an older one is skipped (the next fire time comes instead).
    misfire_grace: Duration = 6 * 3600
    rpo_check_interval: Duration = Field(300, ge=10)
    # How often `dr incident tick` runs: escalations, deadline reminders, notifications.
    incident_tick_interval: Duration = Field(60, ge=10)
    textfile_dir: InventoryPath | None = None


class Contact(StrictModel):
    name: Label
    role: Label
    phone: str | None = None
    email: Email | None = None
    wecom: str | None = None
    dingtalk: str | None = None
    feishu: str | None = None
    language: Literal["zh", "en"] = "zh"


class Target(StrictModel):
    """A recovery objective (RTO/RPO) set for one system, per GB/T 20988 category."""

    system: Label
    category: Literal["infrastructure", "network", "information-system"]
    rto: Duration
    rpo: Duration
    procedure: str | None = None


class PlannedDrill(StrictModel):
    """One entry of the annual drill plan (002 ch. 5): when, what, why, who."""

    when: date
    runbook: Name
    purpose: str = Field(min_length=1)
    basis: str = Field(min_length=1)  # the plan or rule that requires it
    owner: Label
    participants: list[Label] = []  # departments and cooperating parties (vendors, carriers)
    inventory: str | None = None  # the drill inventory it runs on, when not this one
    full_scope: bool = False  # a full-system drill: at least one a year


_Named = TypeVar("_Named", Site, Host, HostPair, Switch, Ups, Generator, Contact, BackupSet)


class Inventory(StrictModel):
    """One institution's (or one lab's) whole inventory. Build it with `load_inventory`."""

    name: Label
    environment: Literal["production", "drill"]
    timezone: TimeZone = "Asia/Shanghai"
    description: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    sites: list[Site] = []
    hosts: list[Host] = []
    host_pairs: list[HostPair] = []
    lines: list[Line] = []
    switches: list[Switch] = []
    power: Power = Field(default_factory=Power)
    backup_sets: list[BackupSet] = []
    contacts: list[Contact] = []
    escalation: dict[AlertLevel, list[str]] = {}
    notifications: Notifications = Field(default_factory=Notifications)
    targets: list[Target] = []
    drills: list[PlannedDrill] = []
    known_hosts: InventoryPath | None = None
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)

    _source_path: Path | None = PrivateAttr(default=None)
    _digest: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _inherit_ssh_defaults(self) -> Inventory:
        # A host's ssh block overrides only the keys it writes; the rest come from
        # defaults.ssh, and known_hosts finally from the inventory-wide file.
        defaults = self.defaults.ssh
        inherited = {k: getattr(defaults, k) for k in defaults.model_fields_set}
        for host in self.hosts:
            own = {k: getattr(host.ssh, k) for k in host.ssh.model_fields_set}
            settings = {**inherited, **own}
            if settings.get("known_hosts") is None and self.known_hosts is not None:
                settings["known_hosts"] = self.known_hosts
            host.ssh = SshSettings.model_construct(set(settings), **settings)
        return self

    # -- provenance (not part of the YAML) ---------------------------------------------

    def attach_source(self, path: Path, content: bytes) -> None:
        """Record which file this inventory came from, and its SHA-256 (for the journal)."""
        self._source_path = path
        self._digest = hashlib.sha256(content).hexdigest()

    @property
    def source_path(self) -> Path | None:
        """The file it was loaded from; None for an inventory built in code."""
        return self._source_path

    @property
    def digest(self) -> str:
        """SHA-256 of the file's bytes (or, built in code, of its canonical JSON)."""
        if self._digest is None:
            return hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self._digest

    # -- lookups used by the engine and runbooks ---------------------------------------

    def host(self, name: str) -> Host:
        return _find(self.hosts, name, "host", "hosts")

    def site(self, name: str) -> Site:
        return _find(self.sites, name, "site", "sites")

    def pair(self, name: str) -> HostPair:
        return _find(self.host_pairs, name, "host pair", "host pairs")

    def switch(self, name: str) -> Switch:
        return _find(self.switches, name, "switch", "switches")

    def ups(self, name: str) -> Ups:
        return _find(self.power.ups, name, "UPS", "UPS units")

    def generator(self, name: str) -> Generator:
        return _find(self.power.generators, name, "generator", "generators")

    def backup_set(self, name: str) -> BackupSet:
        return _find(self.backup_sets, name, "backup set", "backup sets")

    def contact(self, name: str) -> Contact:
        return _find(self.contacts, name, "contact", "contacts")

    def target_for(self, system: str) -> Target | None:
        """The RTO/RPO target for `system`, or None: not every system has one."""
        return next((t for t in self.targets if t.system == system), None)

    def secret_refs(self) -> list[tuple[str, SecretRef]]:
        """Every secret reference with where it is written, e.g. ("hosts[0].ssh.password", ref),
        so that a pre-flight check can see whether each one can be resolved here."""
        return _secret_refs(self, "")

    def select_hosts(self, selector: str) -> list[Host]:
        """Hosts matching e.g. "all", "dc-a", "role:db,site:xiguan", "pair:credit.standby"."""
        return select_hosts(self, selector)


def _find(items: list[_Named], name: str, kind: str, plural: str) -> _Named:
    for item in items:
        if item.name == name:
            return item
    hint = did_you_mean(name, (i.name for i in items), plural)
    raise UserInputError(f"no {kind} named {name!r} in the inventory; {hint}")


def _secret_refs(value: Any, where: str) -> list[tuple[str, SecretRef]]:
    if isinstance(value, SecretRef):
        return [(where, value)]
    if isinstance(value, BaseModel):
        prefix = f"{where}." if where else ""
        fields = type(value).model_fields
        return [r for name in fields for r in _secret_refs(getattr(value, name), prefix + name)]
    if isinstance(value, list):
        return [r for i, item in enumerate(value) for r in _secret_refs(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [r for k, item in value.items() for r in _secret_refs(item, f"{where}.{k}")]
    return []
