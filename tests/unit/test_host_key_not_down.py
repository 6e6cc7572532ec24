"""A runbook may read "cannot reach" as "down"; it may never read a refused host key so
(issue 17, item 3). HostKeyRejected is a TransportError, so every handler of
TransportError in a runbook that talks SSH or to a switch must let it through first.
The real-sshd side is tests/integration/test_host_key_changed.py."""

from __future__ import annotations

import ast
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"

# Handlers around transports without host keys, by (module, function): NUT (upsd),
# a local command, and one that re-raises as StepFailed with the message kept.
NO_HOST_KEY_HERE = {
    ("power_outage.py", "wait_for_mains"),
    ("power_outage.py", "generator_stable"),
    ("_power_notice.py", "outage_facts"),
    ("_fencing.py", "outlet_state"),
    ("_fencing.py", "fence_by_ups_outlet"),
    ("_fencing.py", "fence_by_command"),
    ("restore_database.py", "_release_elsewhere"),
}


def _names(handler: ast.ExceptHandler) -> set[str]:
    caught = handler.type
    items = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return {item.id for item in items if isinstance(item, ast.Name)}


def swallowing_handlers() -> list[tuple[str, str, int]]:
    """(module, function, line) of each TransportError handler not preceded, in its
    try, by one for HostKeyRejected."""
    found = []
    for path in sorted(RUNBOOKS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if not isinstance(node, ast.Try):
                    continue
                let_through = False
                for handler in node.handlers:
                    names = _names(handler)
                    let_through = let_through or "HostKeyRejected" in names
                    if "TransportError" in names and not let_through:
                        found.append((path.name, function.name, handler.lineno))
    return found


def test_no_runbook_reads_a_refused_host_key_as_unreachable() -> None:
    offenders = [f for f in swallowing_handlers() if f[:2] not in NO_HOST_KEY_HERE]
    assert offenders == [], (
        "these handlers of TransportError would take a changed host key for a down host; "
        "add `except HostKeyRejected: raise` before them"
    )


def test_the_exceptions_still_exist() -> None:
    """The allowance list names real handlers (a renamed function must not hide one)."""
    assert {f[:2] for f in swallowing_handlers()} >= NO_HOST_KEY_HERE
