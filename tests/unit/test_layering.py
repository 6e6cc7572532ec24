"""The floors hold: production never imports the drill lab, and rooms do not import in circles.

Each check imports in a fresh interpreter, so what this test process already loaded
(the lab, through other tests' fixtures) cannot hide a production import of it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("orchestrator", "backups", "runbooks")
MAX_MODULE_LINES = 500

# Installed before anything is imported: any import of the lab fails loudly with the
# chain that asked for it.
_BLOCK_THE_LAB = """
import importlib.abc, sys, traceback

class BlockTheLab(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "lab" or name.startswith("lab."):
            chain = "".join(traceback.format_stack(limit=12))
            raise ImportError(f"production imported the drill lab ({name}):\\n{chain}")
        return None

sys.meta_path.insert(0, BlockTheLab())
"""


def production_modules() -> list[str]:
    modules = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_no_production_module_imports_the_lab() -> None:
    modules = production_modules()
    assert len(modules) > 100, "the production packages were not found"
    script = _BLOCK_THE_LAB + (
        "import importlib\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(n for n in sys.modules if n == 'lab' or n.startswith('lab.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_the_cli_loads_every_command_group_without_the_lab() -> None:
    """Every command of dr's own loads with the lab blocked (and none is `dr lab`, which
    only the lab's entry point adds)."""
    script = _BLOCK_THE_LAB + (
        "import typer\n"
        "from orchestrator.cli import main\n"
        "group = typer.main.get_command(main.app)\n"
        "ctx = group.make_context('dr', ['--help'], resilient_parsing=True)\n"
        "names = [command.name for command in main.DrGroup.lazy_commands]\n"
        "assert 'lab' not in names\n"
        "for name in names:\n"
        "    assert group.get_command(ctx, name).name == name\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_no_production_source_names_the_lab_in_an_import() -> None:
    """The static twin of the check above, over every import statement (lazy ones too)."""
    offenders = []
    for package in PRODUCTION:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    if name.split(".")[0] == "lab" or name.startswith("orchestrator.lab"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert offenders == []


def test_no_production_module_is_over_500_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)} ({count} lines)"
        for package in PRODUCTION
        for path in (ROOT / package).rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def _room(module: str) -> str:
    """A room is a package of the product (orchestrator.engine, orchestrator.journal, ...),
    backups, runbooks or the lab."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "orchestrator" else parts[0]


def _import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere (at the top, lazily, or for
    type checking): a circle through any of them is a circle of the design."""
    modules = set(production_modules())
    modules |= {
        ".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "lab").rglob("*.py")
    }
    modules = {m.removesuffix(".__init__") for m in modules}
    graph: dict[str, set[str]] = {}
    for module in modules:
        path = ROOT / Path(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets.add(node.module)
                targets |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[module] = {t for t in targets if t in modules and t != module}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_crosses_rooms() -> None:
    crossing = [c for c in _circles(_import_graph()) if len({_room(m) for m in c}) > 1]
    assert crossing == []


def test_the_lab_has_no_import_circle() -> None:
    circles = [c for c in _circles(_import_graph()) if c[0].split(".")[0] == "lab"]
    assert circles == []


def test_a_production_install_carries_no_lab_dependency() -> None:
    """moto (the lab's S3 server) is the [lab] extra's, never a dependency of `dr` itself;
    and the lab reaches the CLI only through its entry point."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = [spec.split("[")[0].split(">")[0].split("=")[0] for spec in project["dependencies"]]
    assert "moto" not in required
    assert any(spec.startswith("moto") for spec in project["optional-dependencies"]["lab"])
    assert project["entry-points"]["dr.commands"] == {"lab": "lab.cli:app"}


# The records floor and the leaves every floor may use (docs/architecture.md).
RECORDS = {"orchestrator.inventory", "orchestrator.journal"}
LEAVES = {
    "orchestrator",  # the package itself: `from orchestrator import verdicts` names it
    "orchestrator.errors",
    "orchestrator.text",
    "orchestrator.durations",
    "orchestrator.verdicts",
    "orchestrator.local_machine",
    "orchestrator.masking",
    "orchestrator.private_files",
}


def test_the_records_floor_imports_nothing_above_it() -> None:
    """The inventory and the journal describe and record; they know no transport, no
    PostgreSQL and no engine (the inventory once imported PostgreSQL for its defaults)."""
    climbing = sorted(
        f"{module} -> {target}"
        for module, targets in _import_graph().items()
        if _room(module) in RECORDS
        for target in targets
        if _room(target) not in RECORDS | LEAVES
    )
    assert climbing == []
