"""`restic check`: build (with the rotating read-data subset); parse the result.

`check --json` exists only from 0.18; before that the text output and the exit code are
all there is, so the text parser is the fallback and keeps the lines that name errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from backups.restic.errors import EXIT_FAILED, EXIT_OK
from backups.restic.features import Feature, Version, has

_SUBSET = re.compile(r"^(\d+/\d+|\d+(\.\d+)?%|\d+[kKmMgGtT]?)$")


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    read_data_subset: str | None
    errors: tuple[str, ...]


def rotating_subset(day: date, cycle_days: int) -> str:
    """'n/t' for `day`: consecutive days read consecutive parts, so in `cycle_days` days
    every pack has been read once."""
    return f"{day.toordinal() % cycle_days + 1}/{cycle_days}"


def valid_subset(text: str) -> bool:
    """Whether restic 0.14+ accepts `text` for --read-data-subset (n/t, x%, or a size)."""
    if not _SUBSET.match(text):
        return False
    if "/" in text:
        part, total = (int(x) for x in text.split("/"))
        return 1 <= part <= total
    return True


def build_check(version: Version, read_data_subset: str | None) -> list[str]:
    args = ["check"]
    if has(version, Feature.JSON_CHECK):
        args.append("--json")
    if read_data_subset is not None:
        args += ["--read-data-subset", read_data_subset]
    return args


def parse_check(
    version: Version, exit_code: int, stdout: str, stderr: str, read_data_subset: str | None
) -> CheckResult:
    if has(version, Feature.JSON_CHECK):
        return _parse_json(exit_code, stdout, read_data_subset)
    return _parse_text(exit_code, stdout, stderr, read_data_subset)


def found_damage(exit_code: int, stderr: str) -> bool:
    """Whether a failed check failed because the repository is damaged (all versions)."""
    return exit_code == EXIT_FAILED and "repository contains errors" in stderr


def _parse_text(exit_code: int, stdout: str, stderr: str, subset: str | None) -> CheckResult:
    # 0.14 prints "no errors were found" on stdout and every finding on stderr.
    ok = exit_code == EXIT_OK and any(
        line.strip() == "no errors were found" for line in stdout.splitlines()
    )
    errors = tuple(line.strip() for line in stderr.splitlines() if _names_damage(line))
    return CheckResult(ok=ok, read_data_subset=subset, errors=errors)


def _names_damage(line: str) -> bool:
    # "Load(...) returned error, retrying" lines are restic's backend retries, not findings.
    text = line.strip()
    if text.startswith("Load(") or not text:
        return False
    return text.startswith(
        ("pack ", "error for tree", "tree ", "blob ", "Fatal: repository contains errors")
    )


def _parse_json(exit_code: int, stdout: str, subset: str | None) -> CheckResult:
    errors: list[str] = []
    summary_ok = False
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("message_type") == "summary":
            summary_ok = int(message.get("num_errors", 0)) == 0
            errors += [f"broken pack {p}" for p in message.get("broken_packs") or ()]
        elif message.get("message_type") == "error":
            errors.append(str((message.get("error") or {}).get("message", message)))
    return CheckResult(
        ok=exit_code == EXIT_OK and summary_ok, read_data_subset=subset, errors=tuple(errors)
    )
