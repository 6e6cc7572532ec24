"""The alert-level table of the runbooks agrees with itself and with DOMAIN.md's table."""

from __future__ import annotations

import string

import pytest

from runbooks._alert_levels import ALERT_RULES

# DOMAIN.md: level colour -> the words its table uses, per category.
DOMAIN_ROWS = {
    ("network", "blue"): "some lines down",
    ("network", "yellow"): "aggregation device down",
    ("network", "red"): "primary and standby network devices down",
    ("equipment", "blue"): "hardware alarm only",
    ("equipment", "yellow"): "peripheral hardware failed, business continues",
    ("equipment", "orange"): "one core host failed",
    ("equipment", "red"): "primary and standby hosts both down",
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("situation", sorted(ALERT_RULES))
def test_each_rule_cites_its_domain_row_and_says_the_same_in_both_languages(situation):
    rule = ALERT_RULES[situation]
    assert rule.why.startswith(f"{rule.category} {rule.level}: ")
    cited = DOMAIN_ROWS.get((rule.category, rule.level))
    # the trunk-line row shares network yellow with the aggregation device
    assert cited in rule.why or "trunk line down" in rule.why, rule.why
    assert _fields(rule.reason.zh) == _fields(rule.reason.en)
