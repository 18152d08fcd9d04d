"""The real `notifier` command with bad settings, and with DKIM given by its documented names."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from pathlib import Path

import dkim
from flask import Flask

from notifier.infra.settings import PLAIN_ENV, PREFIX
from notifier.mail.dkim import DkimSigner
from tests.conftest import SECRET
from tests.integration.helpers import make_contact, start_campaign
from tests.integration.workers import worker_env
from tests.smtp_server import SmtpTestServer
from tests.unit.infra.test_settings import _pem

NOTIFIER = str(Path(sys.executable).with_name("notifier"))


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A process started as an operator would, with only the settings given here."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX) and k not in PLAIN_ENV}
    clean["NOTIFIER_INSTANCE_PATH"] = str(tmp_path / "instance")
    return subprocess.run(
        [NOTIFIER, *args], capture_output=True, text=True, env={**clean, **env}, timeout=120
    )


def refused_with(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start-up prints, with no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


def test_a_misspelled_variable_stops_the_worker_with_one_clear_line(tmp_path: Path) -> None:
    result = run(tmp_path, "worker", "--burst", SECRET_KEY=SECRET, NOTIFIER_BACH_SIZE="500")
    assert refused_with(result) == (
        "Error: cannot start: NOTIFIER_BACH_SIZE: unknown setting "
        "(did you mean NOTIFIER_BATCH_SIZE?)"
    )


def test_a_value_of_the_wrong_type_stops_start_up_naming_it(tmp_path: Path) -> None:
    result = run(tmp_path, "setup", SECRET_KEY=SECRET, NOTIFIER_SEND_JOBS="four")
    assert refused_with(result).startswith(
        "Error: cannot start: NOTIFIER_SEND_JOBS: Input should be a valid integer"
    )


def test_a_weak_secret_key_stops_production_start_up(tmp_path: Path) -> None:
    for weak in ("changeme", "too-short-9f8e7d6c", "your-secret-key-here-0123456789abcdef"):
        result = run(tmp_path, "setup", SECRET_KEY=weak)
        assert refused_with(result).startswith(
            "Error: cannot start: SECRET_KEY: too weak for production"
        )
        assert weak not in result.stderr
    assert not (tmp_path / "instance" / "notifier.sqlite3").exists()  # nothing was started


def test_a_missing_dkim_key_file_stops_start_up_naming_it(tmp_path: Path) -> None:
    absent = tmp_path / "dkim.pem"
    result = run(
        tmp_path,
        "worker",
        "--burst",
        SECRET_KEY=SECRET,
        DKIM_DOMAIN="dcnet.test",
        DKIM_SELECTOR="s1",
        DKIM_KEY_FILE=str(absent),
    )
    assert refused_with(result) == (
        f"Error: cannot start: DKIM_KEY_FILE: cannot read {absent}: No such file or directory"
    )


def test_production_start_up_warns_without_dkim(tmp_path: Path) -> None:
    unsigned = run(tmp_path, "settings", "check", SECRET_KEY=SECRET)
    assert unsigned.returncode == 0, unsigned.stderr
    assert "DKIM is not configured" in unsigned.stderr
    key = _pem(tmp_path / "dkim.pem")
    signed = run(
        tmp_path,
        "settings",
        "check",
        SECRET_KEY=SECRET,
        DKIM_DOMAIN="dcnet.test",
        DKIM_SELECTOR="s1",
        DKIM_KEY_FILE=str(key),
    )
    assert signed.returncode == 0, signed.stderr
    assert "DKIM" not in signed.stderr
    assert "DKIM_DOMAIN='dcnet.test'" in signed.stdout and SECRET not in signed.stdout


def test_notifier_dev_processes_skip_the_production_checks(tmp_path: Path) -> None:
    result = run(tmp_path, "settings", "check", SECRET_KEY="dev", NOTIFIER_DEV="true")
    assert result.returncode == 0, result.stderr
    assert "DKIM" not in result.stderr


def test_a_worker_given_the_documented_dkim_names_signs_what_it_sends(
    app: Flask, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    """DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_FILE, as docs/deployment.md writes them."""
    key = _pem(tmp_path / "dkim.pem")
    record = DkimSigner.from_file(key, domain="dcnet.test", selector="s2026").dns_txt_record()
    make_contact("lan@example.com", ("promotions",))
    start_campaign("promotion", "promotions")
    env = worker_env(app, tmp_path)
    env.update(DKIM_DOMAIN="dcnet.test", DKIM_SELECTOR="s2026", DKIM_KEY_FILE=str(key))
    worker = subprocess.run(
        [NOTIFIER, "worker", "--burst"], env=env, capture_output=True, text=True, timeout=120
    )
    assert worker.returncode == 0, worker.stderr

    (received,) = smtp.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert "d=dcnet.test" in str(message["DKIM-Signature"])

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s2026._domainkey.dcnet.test."
        return record.encode()

    assert dkim.verify(received.data, dnsfunc=dns)


def test_a_relay_pinned_to_a_purpose_the_profile_lacks_stops_start_up(tmp_path: Path) -> None:
    """A typo in a pin would send that purpose's mail through the other relays unseen."""
    relays = '[{{"name": "bulk", "url": "smtp://127.0.0.1:2525"}}, {{"name": "promo", ' \
             '"url": "smtp://127.0.0.1:2526", "weight": 0, "pinned": ["purpose:{}"]}}]'  # fmt: skip
    result = run(tmp_path, "setup", SECRET_KEY=SECRET, NOTIFIER_RELAYS=relays.format("promotionz"))
    line = refused_with(result)
    assert line.startswith(
        "Error: cannot start: RELAYS 'promo': pinned: 'promotionz' is not a purpose of the "
        "profile ("
    ), line
    assert "promotions" in line
    assert not (tmp_path / "instance" / "notifier.sqlite3").exists()  # nothing was started
    known = run(tmp_path, "settings", "check", SECRET_KEY=SECRET,
                NOTIFIER_RELAYS=relays.format("promotions"))  # fmt: skip
    assert known.returncode == 0, known.stderr
