"""The Ansible export's pure parts: secret lookups and group names."""

from __future__ import annotations

import pytest

from orchestrator.errors import UserInputError
from orchestrator.fleet.ansible_inventory import ansible_inventory, group_name, secret_lookup
from orchestrator.inventory import SecretRef
from orchestrator.inventory.models import Inventory


def test_env_secret_becomes_a_lookup_that_fails_when_the_variable_is_unset():
    lookup = secret_lookup(SecretRef("env", "PG_PASSWORD"))
    assert lookup == "{{ lookup('ansible.builtin.env', 'PG_PASSWORD', default=Undefined) }}"


def test_file_secret_path_with_a_quote_stays_one_jinja_string():
    lookup = secret_lookup(SecretRef("file", "/etc/dr/it's.pass"))
    assert lookup == "{{ lookup('ansible.builtin.file', '/etc/dr/it\\'s.pass') }}"


def test_group_names_are_identifiers():
    assert group_name("pair", "credit-db.main") == "pair_credit_db_main"


def _inventory(roles: list[str]) -> Inventory:
    return Inventory.model_validate(
        {
            "name": "t",
            "environment": "drill",
            "sites": [{"name": "s1", "kind": "branch"}],
            "hosts": [{"name": "h1", "address": "10.0.0.1", "site": "s1", "roles": roles}],
        }
    )


def test_roles_that_would_share_an_ansible_group_are_refused():
    with pytest.raises(UserInputError, match="both become the Ansible group 'role_db_main'"):
        ansible_inventory(_inventory(["db-main", "db_main"]))


def test_a_host_is_in_its_site_kind_and_role_groups():
    children = ansible_inventory(_inventory(["credit-app"]))["all"]["children"]
    assert {name for name, group in children.items() if "h1" in group["hosts"]} == {
        "site_s1",
        "kind_branch",
        "role_credit_app",
    }
