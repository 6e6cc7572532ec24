"""Finding runbooks: the `runbooks` package, then each directory of --runbooks / DR_RUNBOOKS.

A runbook module is a Python file that creates one or more `Runbook` objects at module
level. An institution keeps its own runbooks in a directory of its own; a name found
there and in the package is an error rather than a silent override.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
import traceback
from pathlib import Path
from types import ModuleType

from orchestrator.engine.runbook_digest import runbook_digest
from orchestrator.errors import RunbookDefinitionError, RunbookNotFound
from orchestrator.runbook import Runbook

BUILTIN_PACKAGE = "runbooks"


class RunbookRegistry:
    """Every runbook found, by name."""

    def __init__(self, runbooks: dict[str, Runbook]) -> None:
        self._runbooks = runbooks

    @classmethod
    def discover(cls, extra_dirs: list[Path] | None = None) -> RunbookRegistry:
        found: dict[str, Runbook] = {}
        for module in _builtin_modules():
            _collect(module, found)
        for directory in extra_dirs if extra_dirs is not None else dirs_from_environment():
            if not directory.is_dir():
                raise RunbookNotFound(
                    f"runbook directory {directory} does not exist; check --runbooks / DR_RUNBOOKS"
                )
            for path in sorted(directory.glob("*.py")):
                if not path.name.startswith("_"):
                    _collect(_load_file(path), found)
        return cls(found)

    def get(self, name: str) -> Runbook:
        try:
            return self._runbooks[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, self._runbooks, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise RunbookNotFound(
                f"no runbook named {name!r}.{hint} `dr runbook list` shows them all."
            ) from None

    def all(self) -> list[Runbook]:
        return [self._runbooks[name] for name in sorted(self._runbooks)]


def dirs_from_environment() -> list[Path]:
    value = os.environ.get("DR_RUNBOOKS", "")
    return [Path(p) for p in value.split(os.pathsep) if p]


def _builtin_modules() -> list[ModuleType]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    return [
        _import_builtin(f"{BUILTIN_PACKAGE}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]


def _import_builtin(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except RunbookDefinitionError:
        raise
    except Exception as err:
        raise RunbookDefinitionError(_load_failure(name, err)) from err


def _load_file(path: Path) -> ModuleType:
    # A stable, unique module name per file, so two directories may both have "failover.py".
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"dr_runbooks_{key}_{path.stem}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RunbookDefinitionError(f"{path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except RunbookDefinitionError:
        raise
    except Exception as err:
        del sys.modules[module_name]
        raise RunbookDefinitionError(_load_failure(str(path), err)) from err
    return module


def _collect(module: ModuleType, found: dict[str, Runbook]) -> None:
    source = getattr(module, "__file__", None) or module.__name__
    digest = runbook_digest(source)
    for value in vars(module).values():
        if not isinstance(value, Runbook):
            continue
        if value.name in found and found[value.name] is not value:
            raise RunbookDefinitionError(
                f"runbook name {value.name!r} is defined twice: in {found[value.name].source_file} "
                f"and in {source}; rename one of them"
            )
        value.source_file = source
        value.digest = digest
        found[value.name] = value


def _load_failure(where: str, err: Exception) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    line = next((f for f in reversed(frames) if f.filename.endswith(".py")), None)
    at = f" (line {line.lineno} of {line.filename})" if line else ""
    return f"runbook module {where} failed to load{at}: {err.__class__.__name__}: {err}"
