"""The operator checks the sending DNS with the real `notifier doctor` process, against a local
DNS server: errors and the records to publish first; once they are published, a clean bill."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.acceptance.conftest import NOTIFIER, SECRET, fresh_database
from tests.dns_server import LocalDns
from tests.mail_auth import _pem

FROM, BOUNCE = "dcnet.example.vn", "bounce.dcnet.example.vn"  # the dcnet profile's From
RELAY, RELAY_IP = "relay.dcnet.example.vn", "203.0.113.5"
RECORD = re.compile(r'^(\S+)\. TXT "(.*)"$')


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NOTIFIER, "doctor", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_operator_publishes_what_the_doctor_asks_for(tmp_path: Path, dns: LocalDns) -> None:
    key = tmp_path / "dkim.pem"
    key.write_bytes(_pem())
    plain = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env = {
        **plain,
        "DATABASE_URL": fresh_database(tmp_path),
        "SECRET_KEY": SECRET,
        "NOTIFIER_INSTANCE_PATH": str(tmp_path / "instance"),
        "SMTP_URL": f"smtp+starttls://mailer:s3cret@{RELAY}:587",
        "NOTIFIER_BOUNCE_DOMAIN": BOUNCE,
        "DKIM_DOMAIN": FROM,
        "DKIM_SELECTOR": "s2026",
        "DKIM_KEY_FILE": str(key),
        "DNS_RESOLVER": dns.address,
    }
    dns.add(RELAY, "A", RELAY_IP)

    first = doctor(env)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "[error  ] spf   dcnet.example.vn: Tên miền không có bản ghi SPF" in first.stdout
    assert "[error  ] dmarc dcnet.example.vn: Chưa có chính sách DMARC" in first.stdout
    assert "s2026._domainkey.dcnet.example.vn. TXT" in first.stdout
    assert "s3cret" not in first.stdout + first.stderr

    # The operator publishes every TXT record the doctor printed, and the MX and PTR by hand.
    report = json.loads(doctor(env, "--json").stdout)
    published = [RECORD.match(f["record"] or "") for f in report["findings"]]
    for record in filter(None, published):
        dns.txt[record[1]] = [record[2]]
    assert {f"_dmarc.{FROM}", FROM, BOUNCE, f"s2026._domainkey.{FROM}"} <= set(dns.txt)
    for domain in (FROM, BOUNCE):
        dns.add(domain, "MX", "10 mx.dcnet.example.vn.")
    dns.add("mx.dcnet.example.vn", "A", "203.0.113.25")
    dns.add("5.113.0.203.in-addr.arpa", "PTR", RELAY + ".")

    second = doctor(env, "--lang", "en")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "[error" not in second.stdout and "[warning" not in second.stdout
    assert "The published DKIM key matches the signing key." in second.stdout
    assert f"SPF authorises the relay {RELAY_IP}" in second.stdout

    # Someone replaces the key record with junk holding terminal escapes: an error, shown inert.
    dns.txt[f"s2026._domainkey.{FROM}"] = ["v=DKIM1; p=\x1b[2J\x1b]0;pwned\x07"]
    third = doctor(env, "--domain", FROM)
    assert third.returncode == 1
    assert "\x1b" not in third.stdout and "\\x1b[2J" in third.stdout


def test_a_bad_resolver_setting_stops_with_one_line(tmp_path: Path) -> None:
    plain = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env = {
        **plain,
        "DATABASE_URL": fresh_database(tmp_path),
        "SECRET_KEY": SECRET,
        "NOTIFIER_INSTANCE_PATH": str(tmp_path / "instance"),
        "DNS_RESOLVER": "dns.google",
    }
    done = doctor(env)
    assert done.returncode != 0
    assert "DNS_RESOLVER" in done.stderr and "Traceback" not in done.stderr
