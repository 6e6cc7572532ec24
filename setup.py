"""Which packages the wheel holds; everything else about the project is in pyproject.toml.

This file exists for one mapping pyproject.toml cannot say together with package
discovery: the repository's top-level `ansible/` (playbooks and roles, no Python) ships
inside the wheel as the data-only package `dr_ansible`. It cannot ship under its own
name, because `ansible` is ansible-core's package; orchestrator/fleet/playbook.py finds
it there, and in a checkout or an editable install finds the repository's `ansible/`.
Its files are listed as package data in pyproject.toml ([tool.setuptools.package-data]).
"""

from __future__ import annotations

from setuptools import find_namespace_packages, setup

SHIPPED_ANSIBLE_PACKAGE = "dr_ansible"

setup(
    packages=[
        *find_namespace_packages(include=["orchestrator*", "runbooks*", "backups*", "lab*"]),
        SHIPPED_ANSIBLE_PACKAGE,
        # Its directories too (roles/*/tasks, files, ...): setuptools warns about each
        # importable directory with files that is not a listed package.
        *(f"{SHIPPED_ANSIBLE_PACKAGE}.{name}" for name in find_namespace_packages("ansible")),
    ],
    package_dir={SHIPPED_ANSIBLE_PACKAGE: "ansible"},
)
