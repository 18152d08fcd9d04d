"""Recipient-domain groups: the built-in ones, RELAY_GROUPS's changes, hostile lists refused,
which group an address is in, and the backoff's steps."""

from __future__ import annotations

import json

import pytest

from notifier.domain.domain_groups import (
    BACKOFF_FIRST_MS,
    BACKOFF_MOST_MS,
    BUILT_IN,
    GroupIndex,
    backoff_ms,
    parse_groups,
    throttles,
)
from notifier.domain.relays import RelayConfigError


def by_name(text: str) -> dict:
    return {group.name: group for group in parse_groups(text)}


def test_the_built_in_groups_exist_without_limits() -> None:
    groups = by_name("")
    assert set(groups) == set(BUILT_IN)
    assert all(group.limits() == (0, 0, 0) for group in groups.values())
    assert groups["gmail"].domains == ("gmail.com", "googlemail.com")


def test_limits_for_a_built_in_group_keep_its_domains_and_a_new_group_brings_its_own() -> None:
    groups = by_name(
        json.dumps(
            [
                {"name": "gmail", "per_second": 50, "max_connections": 4},
                {"name": "corp", "domains": ["corp.vn", "corp-mail.vn"], "per_minute": 600},
                {"name": "yahoo", "domains": ["yahoo.com"], "per_hour": 1000},
            ]
        )
    )
    assert groups["gmail"].limits() == (50, 0, 0) and groups["gmail"].max_connections == 4
    assert groups["gmail"].domains == BUILT_IN["gmail"]
    assert groups["corp"].limits() == (0, 600, 0) and groups["corp"].domains == (
        "corp.vn",
        "corp-mail.vn",
    )
    assert groups["yahoo"].domains == ("yahoo.com",)  # replaced, not added to


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("[{", "RELAY_GROUPS: not JSON"),
        ("{}", "non-empty JSON list"),
        ("[]", "non-empty JSON list"),
        ('["gmail"]', "RELAY_GROUPS[0]: must be an object"),
        ('[{"name": "gmail", "rate": 5}]', "unknown field 'rate'"),
        ('[{"name": "Gmail!"}]', "name must be"),
        ('[{"name": "x' + "y" * 40 + '"}]', "name must be"),
        ('[{"name": "corp"}]', "'corp': domains is missing"),
        ('[{"name": "corp", "domains": []}]', "domains must be"),
        ('[{"name": "corp", "domains": "corp.vn"}]', "domains must be"),
        ('[{"name": "corp", "domains": ["CORP.VN"]}]', "domains must be"),
        ('[{"name": "corp", "domains": ["*.corp.vn"]}]', "domains must be"),
        ('[{"name": "corp", "domains": ["corp.vn\\nx"]}]', "domains must be"),
        ('[{"name": "corp", "domains": ["a@corp.vn"]}]', "domains must be"),
        ('[{"name": "corp", "domains": [1]}]', "domains must be"),
        ('[{"name": "gmail", "per_second": true}]', "per_second must be a whole number"),
        ('[{"name": "gmail", "per_second": 0}]', "per_second must be a whole number"),
        ('[{"name": "gmail", "per_second": 1.5}]', "per_second must be a whole number"),
        ('[{"name": "gmail", "per_minute": "50"}]', "per_minute must be a whole number"),
        ('[{"name": "gmail", "per_hour": 10000001}]', "per_hour must be a whole number"),
        ('[{"name": "gmail", "max_connections": -1}]', "max_connections must be"),
        (
            '[{"name": "corp", "domains": ["gmail.com"]}]',
            "'gmail.com' is in both 'gmail' and 'corp'",
        ),
    ],
)
def test_hostile_group_lists_are_refused_with_one_line(value: str, problem: str) -> None:
    with pytest.raises(RelayConfigError) as refused:
        parse_groups(value)
    assert problem in str(refused.value)


def test_at_most_32_groups() -> None:
    many = [{"name": f"g{n}", "domains": [f"d{n}.vn"]} for n in range(29)]
    with pytest.raises(RelayConfigError, match="at most 32"):
        parse_groups(json.dumps(many))
    assert len(parse_groups(json.dumps(many[:28]))) == 32


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("an@gmail.com", "gmail"),
        ("an@GoogleMail.COM", "gmail"),
        ("an@gmail.com.", "gmail"),
        ("an@yahoo.com", "yahoo"),
        ("an@yahoo.com.vn", "yahoo"),
        ("an@yahoo.co.uk", "yahoo"),
        ("an@ymail.com", "yahoo"),
        ("an@hotmail.com", "microsoft"),
        ("an@outlook.com.vn", "microsoft"),
        ("an@live.com", "microsoft"),
        ("an@hcm.vnn.vn", "vn"),
        ("an@viettel.com.vn", "vn"),
        ("an@fpt.vn", "vn"),
        ("an@mail.gmail.com", None),  # a subdomain is another domain
        ("an@gmail.com.vn", None),
        ("an@yahoo", None),  # "yahoo.*" needs an ending
        ("an@notyahoo.com", None),
        ("an@example.com", None),
        ("no-at-sign", None),
    ],
)
def test_which_group_an_address_is_in(address: str, group: str | None) -> None:
    found = GroupIndex(parse_groups("")).group_of(address)
    assert (found.name if found else None) == group


def test_the_backoff_doubles_from_its_first_step_up_to_its_most() -> None:
    steps = [backoff_ms(level) for level in range(1, 12)]
    assert steps[0] == BACKOFF_FIRST_MS and steps[1] == 2 * BACKOFF_FIRST_MS
    assert steps == sorted(steps) and steps[-1] == BACKOFF_MOST_MS
    assert backoff_ms(0) == BACKOFF_FIRST_MS and backoff_ms(10_000) == BACKOFF_MOST_MS


def test_only_421_and_451_ask_a_domain_to_slow_down() -> None:
    assert throttles(421) and throttles(451)
    assert not any(throttles(code) for code in (None, 250, 450, 452, 550, 554))
