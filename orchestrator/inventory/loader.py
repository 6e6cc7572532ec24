"""Load an inventory file: read, parse with line numbers, validate, cross-check.

Every fault in the operator's file ends up as one InventoryError listing all problems as
FILE:LINE: field: message, so one run of `dr inventory check` shows everything to fix.
Nothing else escapes for bad input: an unexpected exception here would be a bug in `dr`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from orchestrator.errors import InventoryError, Problem
from orchestrator.inventory.cleartext import production_refusals
from orchestrator.inventory.limits import MAX_FILE_BYTES, long_names
from orchestrator.inventory.models import Inventory
from orchestrator.inventory.paths import BASE_DIR
from orchestrator.inventory.probes import probe_refusals
from orchestrator.inventory.references import check_references
from orchestrator.inventory.validation_messages import problems_from_validation
from orchestrator.inventory.workdays_file import load_calendar
from orchestrator.inventory.yaml_lines import LocatedData, parse_yaml, render_path


def load_inventory(path: Path | str) -> Inventory:
    """Load and validate the inventory at `path`; raise InventoryError listing every problem."""
    file = str(path)
    source = Path(path)
    content = _read(source, file)
    located = parse_yaml(_decode(content, file), file)
    _require_mapping(located, file)

    problems = list(located.problems)
    inventory: Inventory | None = None
    try:
        context = {BASE_DIR: source.absolute().parent}
        inventory = Inventory.model_validate(located.data, context=context)
    except ValidationError as err:
        problems += problems_from_validation(err, file, located)
    for finding in check_references(located.data, located.line_of):
        line = located.line_of(finding.path)
        problems.append(Problem(file, line, render_path(finding.path), finding.message))
    for where, message in [
        *long_names(located.data),
        *production_refusals(located.data),
        *probe_refusals(located.data),
    ]:
        problems.append(Problem(file, located.line_of(where), render_path(where), message))

    if inventory is not None and inventory.calendar is not None:
        problems += _calendar_problems(inventory.calendar)
    if problems or inventory is None:
        raise InventoryError(_in_file_order(problems))
    inventory.attach_source(source.absolute(), content)
    return inventory


def _calendar_problems(path: Path) -> list[Problem]:
    """The faults of the working-day calendar the inventory names, in that file's lines."""
    try:
        load_calendar(path)
    except InventoryError as err:
        return err.problems
    return []


def _read(source: Path, file: str) -> bytes:
    try:
        with source.open("rb") as handle:
            # One byte more than the limit tells a file at the limit from one above it.
            content = handle.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            message = f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not an inventory"
            raise InventoryError([Problem(file, None, "", message)])
        return content
    except FileNotFoundError:
        message = "no such file; check the path"
    except IsADirectoryError:
        message = "is a directory; give the inventory's YAML file"
    except PermissionError:
        message = "permission denied; run as a user who may read it"
    except OSError as err:
        message = f"cannot be read ({err.strerror or err})"
    raise InventoryError([Problem(file, None, "", message)])


def _decode(content: bytes, file: str) -> str:
    try:
        # utf-8-sig: editors on Windows often save UTF-8 with a byte-order mark.
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = content[: err.start].count(b"\n") + 1
        message = "not UTF-8 text; save the file as UTF-8 (e.g. not GBK)"
        raise InventoryError([Problem(file, line, "", message)]) from None


def _require_mapping(located: LocatedData, file: str) -> None:
    if located.data is None:
        message = "the file is empty; an inventory needs at least 'name:' and 'environment:'"
        raise InventoryError([Problem(file, None, "", message)])
    if not isinstance(located.data, dict):
        message = (
            "the top level must be a mapping of sections (name:, environment:, sites:, "
            "hosts:, ...), not a list or a single value"
        )
        raise InventoryError([Problem(file, located.line_of(()), "", message)])


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: p.line if p.line is not None else 0)
