"""`check` (archiving works: a WAL switch reaches every repository) and `verify` (every
file and WAL segment of one repository is readable and matches its checksum).

`verify` exits 0 whatever it finds; its text output is the verdict. With --verbose it
prints, per WAL archive and per backup, what was checked and how much was invalid:

    stanza: demo
    status: error
      archiveId: 15-1, total WAL checked: 9, total valid WAL: 9
        missing: 0, checksum invalid: 0, size invalid: 0, other: 0
      backup: 20261203-223032F, status: invalid, total files checked: 966, total valid files: 965
        missing: 0, checksum invalid: 1, size invalid: 0, other: 0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backups.pgbackrest.features import Feature, Version, has

_ARCHIVE = re.compile(
    r"^archiveId: (?P<id>\S+), total WAL checked: (?P<checked>\d+), "
    r"total valid WAL: (?P<valid>\d+)"
)
_BACKUP = re.compile(
    r"^backup: (?P<label>\S+), status: (?P<status>[^,]+), total files checked: "
    r"(?P<checked>\d+), total valid files: (?P<valid>\d+)"
)
_COUNTS = re.compile(r"(missing|checksum invalid|size invalid|other): (\d+)")


@dataclass(frozen=True)
class VerifiedItem:
    """One WAL archive (`kind` "archive") or one backup, as verify found it."""

    kind: str
    name: str
    status: str  # archives: "valid" or "invalid"; backups as pgBackRest says
    checked: int
    valid: int
    problems: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.status in ("valid", "in-progress") and self.checked == self.valid


@dataclass(frozen=True)
class VerifyResult:
    repository: int
    status: str  # "ok" or "error"; "unknown" before verify --output existed
    items: tuple[VerifiedItem, ...]

    @property
    def ok(self) -> bool:
        return self.status == "ok" and all(item.ok for item in self.items)

    def findings(self) -> list[str]:
        return [
            f"repo{self.repository}: {item.kind} {item.name}: {item.status}, "
            f"{item.valid} of {item.checked} valid"
            + "".join(f", {k} {v}" for k, v in item.problems.items() if v)
            for item in self.items
            if not item.ok
        ]


def build_check() -> list[str]:
    return ["check"]


def build_verify(repository: int, version: Version) -> list[str]:
    args = ["verify", f"--repo={repository}"]
    if has(version, Feature.VERIFY_OUTPUT):
        args += ["--output=text", "--verbose"]
    return args


def parse_verify(repository: int, output: str) -> VerifyResult:
    status = "unknown"
    items: list[VerifiedItem] = []
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith("status: "):
            status = line.removeprefix("status: ").strip()
        elif match := _ARCHIVE.match(line):
            checked, valid = int(match["checked"]), int(match["valid"])
            state = "valid" if checked == valid else "invalid"
            items.append(VerifiedItem("archive", match["id"], state, checked, valid, {}))
        elif match := _BACKUP.match(line):
            item = VerifiedItem(
                "backup", match["label"], match["status"].strip(),
                int(match["checked"]), int(match["valid"]), {},
            )  # fmt: skip
            items.append(item)
        elif items and _COUNTS.search(line):
            items[-1].problems.update((k, int(v)) for k, v in _COUNTS.findall(line))
    return VerifyResult(repository=repository, status=status, items=tuple(items))
