"""The subscription rules: values, status transitions and the renewal window."""

from __future__ import annotations

import random
import re
from datetime import date
from decimal import Decimal

import pytest

from notifier.domain import subscriptions
from notifier.domain.subscriptions import (
    Held,
    InvalidTransition,
    check_fields,
    check_transition,
    expiring,
    in_window,
    renewal_url_problem,
)

TODAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT://billing.example.vn/%0aalert(1)",
        "data:text/html,<script>x</script>",
        "http://billing.example.vn/renew",
        "https://user:pw@billing.example.vn/renew",
        "https://billing.example.vn/re new",
        "https://billing.example.vn/\x00",
        "https:///renew",
        "https://localhost/renew",
        "https://[::1/renew",
        "https://billing.example.vn/" + "a" * 2000,
    ],
)
def test_a_renewal_url_must_be_plain_https(url: str) -> None:
    assert renewal_url_problem(url) is not None


def test_a_plain_https_renewal_url_is_fine() -> None:
    assert renewal_url_problem("https://billing.example.vn/gia-han/KH-1?lang=en") is None


def test_the_plain_https_shortcut_agrees_with_urlsplit(monkeypatch: pytest.MonkeyPatch) -> None:
    """URLs the shortcut passes without parsing get the answer urlsplit's checks give, for
    thousands of generated ones with ports, users, spaces, odd hosts and trailing newlines."""
    rng = random.Random(11)
    starts = ["https://", "HTTPS://", "http://", "https:/", "https://u:p@", "https://@", ""]
    hosts = ["billing.example.vn", "a.b", "-.-", "localhost", "ex_ample.vn", "bü.vn", "[::1]"]
    tails = ["", "/", "/renew?x=1", "#top", ":443/x", "/a b", "/\n", "\n", "/%0a", "?u=@x", "/é"]
    corpus = [
        rng.choices(starts, [12, 1, 1, 1, 1, 1, 1])[0]
        + rng.choices(hosts, [6, 3, 1, 1, 1, 1, 1])[0]
        + "".join(rng.choices(tails, [3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1], k=rng.randint(0, 3)))
        for _ in range(3000)
    ]
    fast = {url: renewal_url_problem(url) for url in corpus}
    monkeypatch.setattr(subscriptions, "_PLAIN_HTTPS", re.compile(r"(?!)"))
    assert {url: renewal_url_problem(url) for url in corpus} == fast
    assert sum(v is None for v in fast.values()) > 300
    assert sum(v is not None for v in fast.values()) > 300


def test_every_bad_value_is_named() -> None:
    problems = check_fields(
        {
            "kind": "boat",
            "name": " ",
            "currency": "XYZ",
            "amount": Decimal("-1"),
            "renewal_url": "javascript:alert(1)",
            "status": "paused",
            "attributes": {"Bad Key": 1},
        }
    )
    assert set(problems) == {
        "kind",
        "name",
        "currency",
        "amount",
        "renewal_url",
        "status",
        "attributes",
    }


@pytest.mark.parametrize(
    ("amount", "ok"),
    [
        (Decimal("0"), True),
        (Decimal("1250000"), True),
        (Decimal("12.5050"), True),
        (Decimal("12.50501"), False),
        (Decimal("1e16"), False),
        (Decimal("NaN"), False),
        (Decimal("Infinity"), False),
    ],
)
def test_amount_limits(amount: Decimal, ok: bool) -> None:
    assert ("amount" not in check_fields({"amount": amount})) is ok


def test_attributes_are_flat_and_small() -> None:
    assert "attributes" in check_fields({"attributes": {"a": {"nested": 1}}})
    assert "attributes" in check_fields({"attributes": {"a": "x" * 101}})
    assert "attributes" in check_fields({"attributes": {f"k{i}": 1 for i in range(21)}})
    assert "attributes" in check_fields({"attributes": {"k" * 33: 1}})
    assert check_fields({"attributes": {"registrar": "PA", "auto_renew": False}}) == {}


def test_cancelled_is_final_and_others_move() -> None:
    assert check_transition(None, "active") == "active"
    assert check_transition("active", "renewed") == "renewed"
    assert check_transition("renewed", "active") == "active"
    assert check_transition("expired", "renewed") == "renewed"
    assert check_transition("cancelled", "cancelled") == "cancelled"
    with pytest.raises(InvalidTransition):
        check_transition("cancelled", "active")
    with pytest.raises(ValueError):
        check_transition("active", "paused")


def test_the_window_includes_both_ends_and_only_active_ones() -> None:
    assert in_window(Held(1, "active", TODAY), TODAY, 30)
    assert in_window(Held(1, "active", date(2027, 1, 5)), TODAY, 30)
    assert not in_window(Held(1, "active", date(2027, 1, 6)), TODAY, 30)
    assert not in_window(Held(1, "active", date(2026, 12, 5)), TODAY, 30)
    assert not in_window(Held(1, "renewed", TODAY), TODAY, 30)
    assert not in_window(Held(1, "active", None), TODAY, 30)


def test_the_soonest_expiring_one_is_the_campaigns() -> None:
    held = [
        Held(3, "active", date(2026, 12, 20)),
        Held(2, "active", date(2026, 12, 10)),
        Held(1, "active", date(2026, 12, 10)),
        Held(4, "cancelled", date(2026, 12, 7)),
    ]
    assert expiring(held, TODAY, 30) == Held(1, "active", date(2026, 12, 10))
    assert expiring(held, TODAY, 2) is None
