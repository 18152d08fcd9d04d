"""The pure webhook rules: signatures, replay window, backoff with jitter, internal addresses."""

from __future__ import annotations

import pytest

from notifier.domain import webhooks as rules
from notifier.domain.errors import ValidationFailed

SECRET, BODY, NOW = "whsec_test", b'{"id":"e1"}', 1_800_000_000


def test_a_signature_verifies_and_anything_changed_does_not() -> None:
    header = rules.signature(SECRET, NOW, BODY)
    assert header.startswith(f"t={NOW},v1=")
    assert rules.verify(SECRET, header, BODY, NOW)
    assert not rules.verify(SECRET, header, b'{"id":"e2"}', NOW)
    assert not rules.verify("whsec_other", header, BODY, NOW)
    assert not rules.verify(SECRET, header.replace(f"t={NOW}", f"t={NOW + 1}"), BODY, NOW)
    assert not rules.verify(SECRET, "v1=00", BODY, NOW)
    assert not rules.verify(SECRET, "t=soon,v1=00", BODY, NOW)


def test_a_replayed_request_is_refused_outside_the_tolerance() -> None:
    header = rules.signature(SECRET, NOW, BODY)
    assert rules.verify(SECRET, header, BODY, NOW + rules.TOLERANCE_SECONDS)
    assert not rules.verify(SECRET, header, BODY, NOW + rules.TOLERANCE_SECONDS + 1)
    assert not rules.verify(SECRET, header, BODY, NOW - rules.TOLERANCE_SECONDS - 1)


def test_the_backoff_doubles_stays_under_its_cap_and_jitters_between_half_and_all() -> None:
    assert rules.backoff_seconds(1, 30, 7200, 0.0) == 15
    assert rules.backoff_seconds(1, 30, 7200, 1.0) == 30
    assert rules.backoff_seconds(3, 30, 7200, 1.0) == 120
    assert rules.backoff_seconds(20, 30, 7200, 0.999) <= 7200
    assert rules.backoff_seconds(20, 30, 7200, 0.0) == 3600


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1", "255.255.255.255"],  # noqa: S104 - a value under test, not a bind
)  # fmt: skip
def test_internal_addresses_are_internal(address: str) -> None:
    assert rules.is_internal(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_are_not(address: str) -> None:
    assert not rules.is_internal(address)


def test_an_allowed_network_admits_internal_addresses_and_plain_http() -> None:
    local = rules.parse_url("http://127.0.0.1:8000/hook")
    rules.check_addresses(local, ["127.0.0.1"], ["127.0.0.1/32"])
    with pytest.raises(rules.EndpointRefused, match="internal address"):
        rules.check_addresses(local, ["127.0.0.1"], [])
    public_http = rules.parse_url("http://example.com/")
    with pytest.raises(rules.EndpointRefused, match="https"):
        rules.check_addresses(public_http, ["93.184.216.34"], [])
    # One internal address among the answers is enough to refuse (DNS may answer either).
    https = rules.parse_url("https://example.com/")
    with pytest.raises(rules.EndpointRefused):
        rules.check_addresses(https, ["93.184.216.34", "10.0.0.1"], [])
    with pytest.raises(rules.EndpointRefused, match="does not resolve"):
        rules.check_addresses(https, [], [])


def test_event_data_may_hold_only_the_catalogued_keys() -> None:
    rules.check_event("contact.suppressed", {"contact_id": 1, "scope": "all", "reason": "x"})
    with pytest.raises(rules.UnknownEvent):
        rules.check_event("contact.suppressed", {"email": "an@example.com"})
    with pytest.raises(rules.UnknownEvent):
        rules.check_event("contact.deleted", {})
    with pytest.raises(ValidationFailed):
        rules.check_subscriptions([])
