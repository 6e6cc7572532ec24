"""pyproject.toml's bounds and the two constraints files say the same thing.

constraints/lowest.txt is what the packaging test installs to prove each declared lower
bound works; constraints/tested.txt is what `make` installs. A bound moved in one place
and not the other would make one of them a claim nobody tests.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parent.parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SELF = canonicalize_name(PROJECT["name"])


def _direct_requirements() -> list[Requirement]:
    texts = [*PROJECT["dependencies"]]
    for extra in PROJECT["optional-dependencies"].values():
        texts.extend(extra)
    # `test` names `dr-orchestrator[lab]`: the lab's dependencies, declared there once.
    return [r for r in map(Requirement, texts) if canonicalize_name(r.name) != SELF]


def _pins(name: str) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, line in enumerate((ROOT / "constraints" / name).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        package, separator, version = line.partition("==")
        assert separator, f"constraints/{name}:{number}: not NAME==VERSION: {line!r}"
        pins[canonicalize_name(package)] = Version(version)
    return pins


def _lower_bound(requirement: Requirement) -> Version | None:
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(bounds) if bounds else None


def test_no_dependency_is_declared_twice():
    names = [canonicalize_name(r.name) for r in _direct_requirements()]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_every_direct_dependency_declares_a_lower_bound():
    unbounded = [str(r) for r in _direct_requirements() if _lower_bound(r) is None]
    assert unbounded == []


def test_lowest_constraints_pin_each_direct_dependency_at_its_lower_bound():
    lowest = _pins("lowest.txt")
    expected = {canonicalize_name(r.name): _lower_bound(r) for r in _direct_requirements()}
    assert lowest == expected


def test_tested_constraints_pin_every_direct_dependency_within_its_bounds():
    tested = _pins("tested.txt")
    outside = [
        f"{r} (tested.txt: {tested.get(canonicalize_name(r.name))})"
        for r in _direct_requirements()
        if canonicalize_name(r.name) not in tested
        or not r.specifier.contains(tested[canonicalize_name(r.name)])
    ]
    assert outside == []
    assert SELF not in tested  # the project itself comes from the tree, not a pin


def test_make_installs_from_the_tested_constraints_and_reinstalls_when_they_change():
    makefile = (ROOT / "Makefile").read_text()
    rule = makefile[makefile.index("$(VENV)/.installed:") :].split("\n\n", 1)[0]
    assert "constraints/tested.txt" in rule.splitlines()[0]
    assert "pip install --quiet -c constraints/tested.txt -e '.[lab,test]'" in rule
