"""`notifier doctor` against a real DNS server on loopback (tests/dns_server.py), never the
internet: right records, each kind of wrong one, lookup limits, loops, timeouts, NXDOMAIN and
hostile TXT content (huge, not UTF-8, control characters, Unicode)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from notifier.cli import main
from notifier.domain.deliverability import Level
from notifier.infra.dns_lookup import DnsLookup
from notifier.mail.dkim import DkimSigner
from notifier.operations.doctor import BadDomain, explain, run_doctor
from tests.conftest import configure
from tests.dns_server import LocalDns
from tests.mail_auth import _pem

FROM = "dcnet.example.vn"  # the dcnet profile's From and unsubscribe mailbox domain
BOUNCE = "bounce.dcnet.example.vn"
RELAY, RELAY_IP = "relay.dcnet.example.vn", "203.0.113.5"
SELECTOR = "s2026"


def publish_good_zone(dns: LocalDns, signer: DkimSigner) -> None:
    dns.add(RELAY, "A", RELAY_IP)
    dns.add("5.113.0.203.in-addr.arpa", "PTR", RELAY + ".")
    dns.txt[FROM] = ["v=spf1 ip4:203.0.113.0/28 -all"]
    dns.txt[BOUNCE] = ["v=spf1 redirect=dcnet.example.vn"]
    dns.txt[f"{SELECTOR}._domainkey.{FROM}"] = [signer.dns_txt_record()]
    dns.txt[f"_dmarc.{FROM}"] = ["v=DMARC1; p=quarantine; rua=mailto:dmarc@dcnet.example.vn"]
    dns.add(FROM, "MX", "10 mx.dcnet.example.vn.")
    dns.add(BOUNCE, "MX", "10 mx.dcnet.example.vn.")
    dns.add("mx.dcnet.example.vn", "A", "203.0.113.25")


@pytest.fixture
def dns() -> Iterator[LocalDns]:
    with LocalDns() as server:
        yield server


@pytest.fixture
def signer(app: Flask, dns: LocalDns, tmp_path: Path) -> DkimSigner:
    key = tmp_path / "dkim.pem"
    key.write_bytes(_pem())
    configure(
        app,
        SMTP_URL=f"smtp://user:secret@{RELAY}:2525",
        BOUNCE_DOMAIN=BOUNCE,
        DKIM_DOMAIN=FROM,
        DKIM_SELECTOR=SELECTOR,
        DKIM_KEY_FILE=str(key),
        DNS_RESOLVER=dns.address,
    )
    return DkimSigner(_pem(), domain=FROM, selector=SELECTOR)


def found(dns: LocalDns | None = None, **kwargs: object) -> dict[str, Level]:
    lookup = DnsLookup([dns.address], timeout=1.0) if dns else None
    report = run_doctor(lookup=lookup, **kwargs)  # type: ignore[arg-type]
    return {f"{f.code}:{f.subject}": f.level for f in report.findings}


def test_a_right_zone_is_all_ok(app: Flask, dns: LocalDns, signer: DkimSigner) -> None:
    publish_good_zone(dns, signer)
    report = run_doctor()  # through DNS_RESOLVER
    assert report.level is Level.OK, [(f.code, f.subject, f.params) for f in report.findings]
    assert {f.code for f in report.findings} == {
        "doctor_spf_pass", "doctor_dkim_match", "doctor_dmarc_present", "doctor_dmarc_aligned",
        "doctor_mx_ok", "doctor_ptr_ok",
    }  # fmt: skip
    assert f"{BOUNCE} TXT" in dns.questions and f"_dmarc.{FROM} TXT" in dns.questions


def test_wrong_records_each_give_their_error(app: Flask, dns: LocalDns, signer: DkimSigner) -> None:
    publish_good_zone(dns, signer)
    other = DkimSigner(_other_pem(), domain=FROM, selector=SELECTOR)
    dns.txt[FROM] = ["v=spf1 ip4:198.51.100.0/24 -all"]
    dns.txt[f"{SELECTOR}._domainkey.{FROM}"] = [other.dns_txt_record()]
    dns.txt[f"_dmarc.{FROM}"] = ["v=DMARC1; p=reject; adkim=s; aspf=s"]
    dns.other[(BOUNCE, "MX")] = ["0 ."]
    dns.other[("5.113.0.203.in-addr.arpa", "PTR")] = ["unrelated.example.net."]
    report = run_doctor()
    levels = {f"{f.code}:{f.subject}": f.level for f in report.findings}
    assert levels[f"doctor_spf_fail:{FROM}"] is Level.ERROR
    assert levels[f"doctor_dkim_mismatch:{SELECTOR}._domainkey.{FROM}"] is Level.ERROR
    assert levels[f"doctor_dmarc_spf_unaligned:{FROM}"] is Level.WARNING  # aspf=s, bounce.*
    assert levels[f"doctor_mx_null:{BOUNCE}"] is Level.ERROR
    assert levels[f"doctor_ptr_mismatch:{RELAY_IP}"] is Level.WARNING
    records = {f.code: f.record for f in report.findings if f.record and f.subject != BOUNCE}
    assert records["doctor_dkim_mismatch"] == (
        f'{SELECTOR}._domainkey.{FROM}. TXT "{signer.dns_txt_record()}"'
    )
    assert records["doctor_spf_fail"] == (
        f'{FROM}. TXT "v=spf1 ip4:198.51.100.0/24 ip4:{RELAY_IP} -all"'
    )
    vi, en = (explain(report.findings[0], locale) for locale in ("vi", "en"))
    assert "SPF" in vi and vi != en and RELAY_IP in en


def test_nxdomain_everywhere(app: Flask, dns: LocalDns, signer: DkimSigner) -> None:
    levels = found()
    assert levels[f"doctor_relay_unresolved:{RELAY}"] is Level.ERROR
    assert levels[f"doctor_spf_none:{FROM}"] is Level.ERROR
    assert levels[f"doctor_dkim_missing:{SELECTOR}._domainkey.{FROM}"] is Level.ERROR
    assert levels[f"doctor_dmarc_missing:{FROM}"] is Level.ERROR
    assert levels[f"doctor_mx_missing:{FROM}"] is Level.ERROR


def test_lookup_limit_and_loop_through_real_dns(
    app: Flask, dns: LocalDns, signer: DkimSigner
) -> None:
    publish_good_zone(dns, signer)
    dns.txt[FROM] = [" ".join(["v=spf1", *(f"include:i{n}.{FROM}" for n in range(12)), "-all"])]
    for n in range(12):
        dns.txt[f"i{n}.{FROM}"] = ["v=spf1 ip4:192.0.2.1 -all"]
    dns.txt[BOUNCE] = [f"v=spf1 include:loop.{FROM} -all"]
    dns.txt[f"loop.{FROM}"] = [f"v=spf1 include:{BOUNCE} -all"]
    levels = found()
    assert levels[f"doctor_spf_lookup_limit:{FROM}"] is Level.ERROR
    assert levels[f"doctor_spf_loop:{BOUNCE}"] is Level.ERROR
    assert f"i10.{FROM} TXT" not in dns.questions  # it stopped at the eleventh


def test_a_server_that_never_answers_is_a_timeout_not_a_hang(
    app: Flask, dns: LocalDns, signer: DkimSigner
) -> None:
    publish_good_zone(dns, signer)
    dns.txt[FROM] = [f"v=spf1 include:slow.{FROM} -all"]
    dns.silent.update({f"slow.{FROM}", f"_dmarc.{FROM}"})
    levels = found(dns)
    assert levels[f"doctor_spf_temperror:{FROM}"] is Level.ERROR
    assert levels[f"doctor_timeout:{FROM}"] is Level.ERROR  # the DMARC question


def test_hostile_txt_content(app: Flask, dns: LocalDns, signer: DkimSigner) -> None:
    publish_good_zone(dns, signer)
    # 30,000 characters of SPF terms: one reply of many strings, parsed without trouble.
    dns.txt[FROM] = ["v=spf1 " + " ".join(f"ip4:198.51.{n // 250}.{n % 250}" for n in range(1800))
                     + " ip4:203.0.113.5 -all"]  # fmt: skip
    dns.txt[BOUNCE] = [b"v=spf1 ip4:203.0.113.5 \xff\xfe -all"]  # type: ignore[list-item]
    dns.txt[f"{SELECTOR}._domainkey.{FROM}"] = ["v=DKIM1; p=\x1b[2J<script>alert(1)</script>"]
    dns.txt[f"_dmarc.{FROM}"] = ["v=DMARC1; p=réject \u202e"]
    report = run_doctor()
    by_code = {f"{f.code}:{f.subject}": f for f in report.findings}
    assert by_code[f"doctor_spf_pass:{FROM}"].level is Level.OK
    assert by_code[f"doctor_spf_permerror:{BOUNCE}"].params["reason"] == "not_ascii"
    dkim = by_code[f"doctor_dkim_malformed:{SELECTOR}._domainkey.{FROM}"]
    assert "\x1b" not in dkim.params["found"] and "\\x1b" in dkim.params["found"]
    dmarc = by_code[f"doctor_dmarc_malformed:{FROM}"]
    assert "\u202e" not in dmarc.params["found"]
    assert "\x1b" not in json.dumps(report.as_json(), ensure_ascii=False)


def test_too_long_names_in_records_are_errors_not_crashes(
    app: Flask, dns: LocalDns, signer: DkimSigner
) -> None:
    publish_good_zone(dns, signer)
    dns.txt[FROM] = ["v=spf1 include:" + "a" * 70 + ".example -all"]
    dns.add(BOUNCE, "MX", "10 " + ("b" * 60 + ".") * 4 + "example.")
    dns.other[(BOUNCE, "MX")] = dns.other[(BOUNCE, "MX")][1:]
    levels = found()
    assert levels[f"doctor_spf_permerror:{FROM}"] is Level.ERROR
    assert levels[f"doctor_mx_unresolved:{BOUNCE}"] is Level.ERROR


def test_domain_override_and_a_bad_one(app: Flask, dns: LocalDns, signer: DkimSigner) -> None:
    publish_good_zone(dns, signer)
    dns.txt["other.example.vn"] = ["v=spf1 ip4:203.0.113.5 -all"]
    levels = found(domain="Other.Example.VN.")
    assert levels["doctor_spf_pass:other.example.vn"] is Level.OK
    assert levels["doctor_dmarc_missing:other.example.vn"] is Level.ERROR
    for bad in ("", "not a domain", "a..b", "x" * 300, "ví.dụ", "-a.example"):
        with pytest.raises(BadDomain):
            run_doctor(domain=bad or " ")


def test_without_relay_or_dkim(app: Flask, dns: LocalDns) -> None:
    configure(app, DNS_RESOLVER=dns.address)
    dns.txt[FROM] = ["v=spf1 mx -all"]
    levels = found()
    assert levels["doctor_relay_outbox:outbox"] is Level.WARNING
    assert levels[f"doctor_spf_present:{FROM}"] is Level.OK
    assert levels[f"doctor_dkim_unsigned:{FROM}"] is Level.ERROR


def test_cli_text_json_and_exit_code(
    app: Flask, dns: LocalDns, signer: DkimSigner, runner: FlaskCliRunner
) -> None:
    publish_good_zone(dns, signer)
    ok = runner.invoke(main, args=["doctor"])
    assert ok.exit_code == 0, ok.output
    assert "[ok     ] spf" in ok.output and "SPF cho phép" in ok.output
    english = runner.invoke(main, args=["doctor", "--lang", "en"])
    assert "SPF authorises the relay 203.0.113.5" in english.output
    dns.txt[f"{SELECTOR}._domainkey.{FROM}"] = ["v=DKIM1; p=\x1b]0;owned\x07"]
    bad = runner.invoke(main, args=["doctor", "--json"])
    assert bad.exit_code == 1
    document = json.loads(bad.output)
    assert document["level"] == "error" and document["relay"] == RELAY
    dkim = next(f for f in document["findings"] if f["check"] == "dkim")
    assert dkim["code"] == "doctor_dkim_malformed" and dkim["level"] == "error"
    assert dkim["explanation"]["vi"].startswith("Bản ghi khóa DKIM sai cú pháp")
    assert dkim["explanation"]["en"].startswith("The DKIM key record is malformed")
    assert dkim["record"] == f'{SELECTOR}._domainkey.{FROM}. TXT "{signer.dns_txt_record()}"'
    text = runner.invoke(main, args=["doctor"])
    assert text.exit_code == 1 and "\x1b" not in text.output and "\x07" not in text.output
    refused = runner.invoke(main, args=["doctor", "--domain", "bad domain!"])
    assert refused.exit_code == 1 and "--domain" in refused.output
    assert "Traceback" not in refused.output


def _other_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encoding, private = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, private, serialization.NoEncryption())


def test_a_dead_dns_server_costs_one_budget_not_a_timeout_per_question(
    app: Flask, dns: LocalDns, signer: DkimSigner
) -> None:
    publish_good_zone(dns, signer)
    dns.silent.update({RELAY, FROM, BOUNCE, f"_dmarc.{FROM}", f"{SELECTOR}._domainkey.{FROM}"})
    started = time.monotonic()
    report = run_doctor(lookup=DnsLookup([dns.address], timeout=1.0, budget=2.0))
    elapsed = time.monotonic() - started
    timeouts = [f for f in report.findings if f.code in ("doctor_timeout", "doctor_spf_temperror")]
    assert len(timeouts) >= 5 and report.level is Level.ERROR
    # Six questions go unanswered; at a second each they would take six seconds.
    assert elapsed < 5.0, elapsed
