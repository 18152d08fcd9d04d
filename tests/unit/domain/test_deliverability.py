"""The pure DNS checks of `notifier doctor`, with the records passed in (no network)."""

from __future__ import annotations

import base64

import pytest

from notifier.domain.deliverability import (
    DnsTimeout,
    Level,
    SendingSetup,
    aligned,
    check_spf,
    diagnose,
    dkim_public_key,
    escaped,
    parse_dmarc,
    records_lookup,
    shown,
    suggested_spf,
    tags,
)

RELAY = "203.0.113.5"
KEY = base64.b64encode(b"public-key-der-bytes").decode()
OTHER = base64.b64encode(b"another-key").decode()


def spf(records: dict, ip: str = RELAY, domain: str = "example.vn") -> str:
    return check_spf(ip, domain, records_lookup(records)).result


# --- SPF evaluation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 ip4:203.0.113.0/24 -all", "pass"),
        ("v=spf1 ip4:203.0.113.5 -all", "pass"),
        ("v=spf1 ip4:198.51.100.0/24 -all", "fail"),
        ("v=spf1 ip4:198.51.100.0/24 ~all", "softfail"),
        ("v=spf1 ip4:198.51.100.0/24 ?all", "neutral"),
        ("v=spf1 ip4:198.51.100.0/24", "neutral"),
        ("v=spf1 -ip4:203.0.113.5 +all", "fail"),
        ("V=SPF1 IP4:203.0.113.5 -ALL", "pass"),
        ("v=spf1 ip6:2001:db8::/32 -all", "fail"),
        ("v=spf1 exp=explain.example.vn unknown=1 ip4:203.0.113.5 -all", "pass"),
    ],
)
def test_ip_mechanisms_and_qualifiers(record: str, expected: str) -> None:
    assert spf({("example.vn", "TXT"): [record]}) == expected


def test_ipv6_relay_matches_ip6_only() -> None:
    records = {("example.vn", "TXT"): ["v=spf1 ip4:203.0.113.0/24 ip6:2001:db8::/32 -all"]}
    assert spf(records, ip="2001:db8::25") == "pass"
    assert spf(records, ip="2001:db9::25") == "fail"


def test_include_a_mx_and_redirect_are_followed() -> None:
    records = {
        ("example.vn", "TXT"): ["v=spf1 include:_spf.relay.example a:out.example.vn mx -all"],
        ("_spf.relay.example", "TXT"): ["v=spf1 ip4:198.51.100.0/24 -all"],
        ("out.example.vn", "A"): ["192.0.2.7"],
        ("example.vn", "MX"): ["10 mx.example.vn."],
        ("mx.example.vn", "A"): ["203.0.113.5"],
    }
    assert spf(records) == "pass"  # through mx
    assert spf(records, ip="198.51.100.9") == "pass"  # through include
    assert spf(records, ip="192.0.2.7") == "pass"  # through a:
    assert spf(records, ip="192.0.2.8") == "fail"
    redirected = {
        ("example.vn", "TXT"): ["v=spf1 redirect=_spf.example.vn"],
        ("_spf.example.vn", "TXT"): ["v=spf1 a:relay.example.vn/24 -all"],
        ("relay.example.vn", "A"): ["203.0.113.77"],
    }
    assert spf(redirected) == "pass"  # /24 of a:
    assert spf(redirected, ip="203.0.114.1") == "fail"


def test_include_of_a_failing_record_does_not_match_and_goes_on() -> None:
    records = {
        ("example.vn", "TXT"): ["v=spf1 include:other.example ip4:203.0.113.5 -all"],
        ("other.example", "TXT"): ["v=spf1 -all"],
    }
    assert spf(records) == "pass"


def test_eleven_lookups_is_a_permerror() -> None:
    chain = " ".join(f"include:s{i}.example.vn" for i in range(11))
    records: dict = {("example.vn", "TXT"): [f"v=spf1 {chain} ip4:203.0.113.5 -all"]}
    for i in range(11):
        records[(f"s{i}.example.vn", "TXT")] = ["v=spf1 ip4:192.0.2.1 -all"]
    result = check_spf(RELAY, "example.vn", records_lookup(records))
    assert (result.result, result.reason) == ("permerror", "lookup_limit")
    assert "s10.example.vn" in result.detail
    # Ten is still allowed.
    records[("example.vn", "TXT")] = [f"v=spf1 {chain.rsplit(' ', 1)[0]} ip4:203.0.113.5 -all"]
    assert check_spf(RELAY, "example.vn", records_lookup(records)).result == "pass"


def test_include_loop_is_a_permerror_not_a_hang() -> None:
    records = {
        ("example.vn", "TXT"): ["v=spf1 include:b.example.vn -all"],
        ("b.example.vn", "TXT"): ["v=spf1 include:example.vn -all"],
    }
    result = check_spf(RELAY, "example.vn", records_lookup(records))
    assert (result.result, result.reason) == ("permerror", "loop")
    self_redirect = {("example.vn", "TXT"): ["v=spf1 redirect=example.vn"]}
    assert check_spf(RELAY, "example.vn", records_lookup(self_redirect)).reason == "loop"


def test_void_lookups_past_two_are_a_permerror() -> None:
    records = {
        ("example.vn", "TXT"): ["v=spf1 a:n1.example.vn a:n2.example.vn a:n3.example.vn -all"]
    }
    result = check_spf(RELAY, "example.vn", records_lookup(records))
    assert (result.result, result.reason) == ("permerror", "void_limit")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("v=spf1 ip4:300.1.2.3 -all", "syntax"),
        ("v=spf1 ip4:2001:db8::1 -all", "syntax"),
        ("v=spf1 include -all", "syntax"),
        ("v=spf1 bogus -all", "syntax"),
        ("v=spf1 all:x", "syntax"),
        ("v=spf1 a/33 -all", "syntax"),
        ("v=spf1 redirect=a.example redirect=b.example", "syntax"),
        ("v=spf1 include:" + "x" * 64 + ".example -all", "syntax"),
        ("v=spf1 include:nowhere.example -all", "include_none"),
        ("v=spf1 ip4:203.0.113.5 — -all", "not_ascii"),
    ],
)
def test_malformed_records_are_permerrors(record: str, reason: str) -> None:
    result = check_spf(RELAY, "example.vn", records_lookup({("example.vn", "TXT"): [record]}))
    assert (result.result, result.reason) == ("permerror", reason)


def test_two_spf_records_and_none() -> None:
    two = {("example.vn", "TXT"): ["v=spf1 -all", "v=spf1 +all", "google-site-verification=x"]}
    assert check_spf(RELAY, "example.vn", records_lookup(two)).reason == "multiple"
    other = {("example.vn", "TXT"): ["v=spf10 +all", "hello"]}
    assert spf(other) == "none"
    assert spf({}) == "none"


def test_timeout_is_a_temperror() -> None:
    records = {
        ("example.vn", "TXT"): ["v=spf1 include:slow.example -all"],
        ("slow.example", "TXT"): DnsTimeout("slow.example TXT"),
    }
    assert spf(records) == "temperror"
    assert spf({("example.vn", "TXT"): DnsTimeout("x")}) == "temperror"


def test_macros_expand_what_can_be_known_and_say_unknown_otherwise() -> None:
    exists = {
        ("example.vn", "TXT"): ["v=spf1 exists:%{i}._ip.example.vn -all"],
        ("203.0.113.5._ip.example.vn", "A"): ["127.0.0.2"],
    }
    assert spf(exists) == "pass"
    local_part = {("example.vn", "TXT"): ["v=spf1 exists:%{l}._u.example.vn -all"]}
    assert check_spf(RELAY, "example.vn", records_lookup(local_part)).result == "unknown"


def test_ptr_mechanism_needs_the_name_to_resolve_back() -> None:
    records = {
        ("example.vn", "TXT"): ["v=spf1 ptr -all"],
        ("5.113.0.203.in-addr.arpa", "PTR"): ["out.example.vn."],
        ("out.example.vn", "A"): ["203.0.113.5"],
    }
    assert spf(records) == "pass"
    records[("out.example.vn", "A")] = ["203.0.113.6"]
    assert spf(records) == "fail"


def test_suggested_record_adds_the_relay_before_all() -> None:
    assert suggested_spf(None, [RELAY]) == "v=spf1 ip4:203.0.113.5 ~all"
    assert suggested_spf("v=spf1 mx -all", [RELAY, "2001:db8::1"]) == (
        "v=spf1 mx ip4:203.0.113.5 ip6:2001:db8::1 -all"
    )
    assert suggested_spf("v=spf1 redirect=x.example", [RELAY]).startswith("v=spf1 ip4:")
    # A record holding control characters is never echoed into the advice.
    assert suggested_spf("v=spf1 \x1b[2J -all", [RELAY]) == "v=spf1 ip4:203.0.113.5 ~all"


# --- DKIM and DMARC parsing ---------------------------------------------------------------


def test_dkim_key_is_compared_by_its_bytes_not_its_text() -> None:
    spaced = f"v=DKIM1;  k=rsa;\tp={KEY[:10]} {KEY[10:]} ;"
    assert dkim_public_key(spaced) == dkim_public_key(f"v=DKIM1; k=rsa; p={KEY}")
    assert dkim_public_key(f"p={KEY}") == b"public-key-der-bytes"
    assert dkim_public_key("v=DKIM1; k=rsa; p=") == b""
    assert dkim_public_key("v=DKIM1; k=ed25519; p=" + KEY) is None
    assert dkim_public_key("v=DKIM1; p=!!notbase64") is None
    assert dkim_public_key("v=DKIM1; k=rsa") is None
    assert dkim_public_key("v=DKIM1; p=a; p=b") is None
    assert tags("garbage without equals") is None


@pytest.mark.parametrize(
    ("record", "policy"),
    [
        ("v=DMARC1; p=reject", ("reject", "r", "r")),
        (
            "v=DMARC1; p=quarantine; adkim=s; aspf=r; rua=mailto:d@example.vn",
            ("quarantine", "s", "r"),
        ),
        ("v=DMARC1;p=none", ("none", "r", "r")),
        ("p=reject; v=DMARC1", None),  # v= must come first
        ("v=DMARC1; p=block", None),
        ("v=DMARC1", None),
        ("v=DMARC1; p=none; adkim=x", None),
        ("v=DMARC1; p=nóne", None),
    ],
)
def test_dmarc_parsing(record: str, policy: tuple[str, str, str] | None) -> None:
    parsed = parse_dmarc(record)
    assert (None if parsed is None else (parsed.policy, parsed.adkim, parsed.aspf)) == policy


def test_alignment_relaxed_and_strict() -> None:
    assert aligned("mail.example.vn", "example.vn", "r")
    assert not aligned("mail.example.vn", "example.vn", "s")
    assert aligned("EXAMPLE.vn.", "example.vn", "s")
    assert aligned("a.dcnet.com.vn", "b.dcnet.com.vn", "r")  # com.vn is a public suffix
    assert not aligned("dcnet.com.vn", "other.com.vn", "r")


def test_printing_escapes_control_characters_and_cuts_long_text() -> None:
    assert escaped("v=spf1 \x1b[31m\u202e") == "v=spf1 \\x1b[31m\\x202e"
    assert len(shown("x" * 5000)) == 201
    assert escaped("Tiếng Việt") == "Tiếng Việt"


# --- the diagnosis ------------------------------------------------------------------------

DK, DM, PTR = "s1._domainkey.example.vn", "_dmarc.example.vn", "5.113.0.203.in-addr.arpa"
SETUP = SendingSetup(
    from_domain="example.vn",
    return_path_domain="bounce.example.vn",
    relay_host="relay.example.vn",
    dkim_domain="example.vn",
    dkim_selector="s1",
    dkim_record=f"v=DKIM1; k=rsa; p={KEY}",
    inbound_domains=("example.vn", "bounce.example.vn"),
)
GOOD = {
    ("relay.example.vn", "A"): [RELAY],
    ("example.vn", "TXT"): ["v=spf1 ip4:203.0.113.0/24 -all"],
    ("bounce.example.vn", "TXT"): ["v=spf1 include:example.vn -all"],
    ("s1._domainkey.example.vn", "TXT"): [f"v=DKIM1; k=rsa; p={KEY}"],
    ("_dmarc.example.vn", "TXT"): ["v=DMARC1; p=reject"],
    ("example.vn", "MX"): ["10 mx.example.vn."],
    ("bounce.example.vn", "MX"): ["10 mx.example.vn."],
    ("mx.example.vn", "A"): ["203.0.113.25"],
    ("5.113.0.203.in-addr.arpa", "PTR"): ["relay.example.vn."],
}


def codes(records: dict, setup: SendingSetup = SETUP) -> dict[str, Level]:
    return {f"{f.code}:{f.subject}": f.level for f in diagnose(setup, records_lookup(records))}


def test_a_good_setup_is_all_ok() -> None:
    found = codes(GOOD)
    assert set(found.values()) == {Level.OK}, found
    assert set(found) == {
        "doctor_spf_pass:example.vn", "doctor_spf_pass:bounce.example.vn",
        "doctor_dkim_match:s1._domainkey.example.vn", "doctor_dmarc_present:example.vn",
        "doctor_dmarc_aligned:example.vn", "doctor_mx_ok:example.vn",
        "doctor_mx_ok:bounce.example.vn", "doctor_ptr_ok:203.0.113.5",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected", "level"),
    [
        ({("example.vn", "TXT"): []}, "doctor_spf_none:example.vn", Level.ERROR),
        ({("example.vn", "TXT"): ["v=spf1 -all"]}, "doctor_spf_fail:example.vn", Level.ERROR),
        (
            {("example.vn", "TXT"): ["v=spf1 ~all"]},
            "doctor_spf_not_covered:example.vn",
            Level.WARNING,
        ),
        ({(DK, "TXT"): []}, "doctor_dkim_missing:" + DK, Level.ERROR),
        ({(DK, "TXT"): [f"v=DKIM1; p={OTHER}"]}, "doctor_dkim_mismatch:" + DK, Level.ERROR),
        ({(DK, "TXT"): ["v=DKIM1; p="]}, "doctor_dkim_revoked:" + DK, Level.ERROR),
        ({(DK, "TXT"): ["p=%%%"]}, "doctor_dkim_malformed:" + DK, Level.ERROR),
        ({(DK, "TXT"): ["p=" + KEY, "p=" + KEY]}, "doctor_dkim_multiple:" + DK, Level.ERROR),
        ({(DM, "TXT"): []}, "doctor_dmarc_missing:example.vn", Level.ERROR),
        ({(DM, "TXT"): ["v=DMARC1; p=maybe"]}, "doctor_dmarc_malformed:example.vn", Level.ERROR),
        (
            {(DM, "TXT"): ["v=DMARC1; p=none", "v=DMARC1; p=reject"]},
            "doctor_dmarc_multiple:example.vn",
            Level.ERROR,
        ),
        (
            {(DM, "TXT"): ["v=DMARC1; p=reject; aspf=s"]},
            "doctor_dmarc_spf_unaligned:example.vn",
            Level.WARNING,
        ),
        ({("example.vn", "MX"): []}, "doctor_mx_missing:example.vn", Level.ERROR),
        (
            {("example.vn", "MX"): [], ("example.vn", "A"): ["203.0.113.80"]},
            "doctor_mx_implicit:example.vn",
            Level.WARNING,
        ),
        ({("example.vn", "MX"): ["0 ."]}, "doctor_mx_null:example.vn", Level.ERROR),
        (
            {("example.vn", "MX"): ["10 gone.example.vn."]},
            "doctor_mx_unresolved:example.vn",
            Level.ERROR,
        ),
        ({(PTR, "PTR"): []}, "doctor_ptr_missing:203.0.113.5", Level.WARNING),
        ({(PTR, "PTR"): ["mx.example.vn."]}, "doctor_ptr_mismatch:203.0.113.5", Level.WARNING),
        ({("relay.example.vn", "A"): []}, "doctor_relay_unresolved:relay.example.vn", Level.ERROR),
        ({(DM, "TXT"): DnsTimeout("t")}, "doctor_timeout:example.vn", Level.ERROR),
    ],
)
def test_each_wrong_record_gives_its_finding(change: dict, expected: str, level: Level) -> None:
    found = codes({**GOOD, **change})
    assert found.get(expected) == level, found


def test_missing_records_come_with_the_exact_record_to_publish() -> None:
    records = {**GOOD, (DK, "TXT"): [], ("example.vn", "TXT"): ["v=spf1 mx -all"]}
    findings = diagnose(SETUP, records_lookup(records))
    publish = {f.code: f.record for f in findings if f.record and f.subject != "bounce.example.vn"}
    assert (
        publish["doctor_dkim_missing"] == f's1._domainkey.example.vn. TXT "v=DKIM1; k=rsa; p={KEY}"'
    )
    assert publish["doctor_spf_fail"] == 'example.vn. TXT "v=spf1 mx ip4:203.0.113.5 -all"'


def test_unaligned_dkim_and_return_path_fail_dmarc() -> None:
    setup = SendingSetup(
        "example.vn", "bounces.esp.example", "relay.example.vn", "esp.example", "s1",
        SETUP.dkim_record, ("example.vn",),
    )  # fmt: skip
    found = codes(
        {**GOOD, ("s1._domainkey.esp.example", "TXT"): [f"p={KEY}"],
         ("bounces.esp.example", "TXT"): ["v=spf1 ip4:203.0.113.5 -all"]},
        setup,
    )  # fmt: skip
    assert found["doctor_dmarc_unaligned:example.vn"] == Level.ERROR


def test_dmarc_falls_back_to_the_organisational_domain() -> None:
    setup = SendingSetup("news.example.vn", "news.example.vn", None)
    found = codes({("_dmarc.example.vn", "TXT"): ["v=DMARC1; p=none"]}, setup)
    assert found["doctor_dmarc_present:news.example.vn"] == Level.OK
    assert found["doctor_relay_outbox:outbox"] == Level.WARNING
    assert found["doctor_dkim_unsigned:news.example.vn"] == Level.ERROR


def test_private_relay_is_a_warning_and_is_not_judged_by_spf() -> None:
    setup = SendingSetup("example.vn", "example.vn", "10.0.0.5", inbound_domains=())
    found = codes(GOOD, setup)
    assert found["doctor_spf_private_relay:example.vn"] == Level.WARNING
    assert not [k for k in found if k.startswith("doctor_ptr")]
