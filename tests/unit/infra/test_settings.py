"""The settings model: types, defaults in one place, production checks; errors name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from notifier.infra.settings import Settings, defaults_path, defaults_toml, weak_secret

STRONG = "b3f1c9e07a5d4e2f8c6a1b0d9e7f5a3c"


def make(**values: object) -> Settings:
    """Validation alone: no file and no environment variable is read."""
    return Settings.model_validate(values)


def problem(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        make(**values)
    return str(caught.value)


def test_config_settings_toml_is_the_models_defaults_written_out() -> None:
    assert defaults_path().read_text("utf-8") == defaults_toml()


def test_every_key_of_the_defaults_file_has_the_models_default() -> None:
    written = tomllib.loads(defaults_path().read_text("utf-8"))
    fields = Settings.model_fields
    assert set(written) == set(fields) - {"TESTING", "DEV"}
    for key, value in written.items():
        assert value == fields[key].default, key


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("BATCH_SIZE", "500", 500),
        ("SMTP_RETRY_SECONDS", "0.5", 0.5),
        ("SES_WEBHOOK", "true", True),
        ("SES_WEBHOOK", "0", False),
        ("LOG_FORMAT", "text", "text"),
        ("OUTBOX_PORT", "0", 0),
    ],
)
def test_text_from_the_environment_becomes_the_keys_type(
    key: str, text: str, value: object
) -> None:
    assert getattr(make(**{key: text}), key) == value


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("BATCH_SIZE", "lots", "valid integer"),
        ("BATCH_SIZE", 0, "greater than or equal to 1"),
        ("FAILURE_RATE_PAUSE", 2, "less than or equal to 1"),
        ("SES_WEBHOOK", "maybe", "valid boolean"),
        ("LOG_FORMAT", "xml", "'json' or 'text'"),
        ("PUBLIC_BASE_URL", "mail.example.vn", "should match pattern"),
        ("OUTBOX_PORT", 70000, "less than or equal to 65535"),
        ("LOCALES", [], "at least 1 item"),
        ("SESSION_COOKIE_SAMESITE", "None", "'Lax' or 'Strict'"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_key(key: str, value: object, says: str) -> None:
    message = problem(**{key: value})
    assert key in message and says in message


def test_an_unknown_key_is_refused() -> None:
    assert "BATCH_SIZ" in problem(BATCH_SIZ=5)


def test_the_documented_plain_names_set_the_same_keys() -> None:
    settings = make(METRICS_TOKEN="m", NOTIFIER_LOG_FORMAT="text")
    assert settings.METRICS_TOKEN == "m" and settings.LOG_FORMAT == "text"


@pytest.mark.parametrize(
    ("secret", "weak"),
    [
        ("", True),
        ("short-but-random-9f8e7d", True),
        ("a" * 64, True),
        ("0101010101010101010101010101010101", True),
        ("change-me-to-something-long-and-random-please", True),
        ("your-secret-key-goes-here-1234567890", True),
        ("test-secret-key-not-for-production", True),
        ("REPLACE_ME_WITH_A_REAL_SECRET_0123456789", True),
        ("my super secret password for notifier 2026", True),
        (STRONG, False),
        ("Xq7-vR2pLm9Zt4Wb8Nc1Yd6Fh3Gk5Js0", False),
    ],
)
def test_weak_secrets(secret: str, weak: bool) -> None:
    assert weak_secret(secret) is weak


def test_production_refuses_a_weak_secret_key() -> None:
    message = problem(SECRET_KEY="changeme")
    assert "SECRET_KEY: too weak for production" in message
    assert "changeme" not in message.split("SECRET_KEY: ")[1].split("[")[0]


@pytest.mark.parametrize("mode", ["TESTING", "DEV"])
def test_tests_and_notifier_dev_accept_any_secret_key(mode: str) -> None:
    assert make(SECRET_KEY="s", **{mode: True}).SECRET_KEY == "s"


def test_an_empty_secret_key_is_left_for_the_generated_one() -> None:
    assert make(SECRET_KEY="").SECRET_KEY == ""


def test_secrets_never_show_in_the_repr() -> None:
    settings = make(
        SECRET_KEY=STRONG,
        SMTP_URL="smtp://mailer:hunter22-pass@relay:587",
        DATABASE_URL="postgresql://u:db-pass@db/notifier",
        METRICS_TOKEN="metrics-token-value",
    )
    shown = repr(settings)
    for secret in (STRONG, "hunter22-pass", "db-pass", "metrics-token-value"):
        assert secret not in shown


def _pem(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_dkim_needs_all_three_keys() -> None:
    message = problem(DKIM_DOMAIN="a.vn")
    assert "DKIM_SELECTOR, DKIM_KEY_FILE: missing" in message


def test_a_missing_dkim_key_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    message = problem(DKIM_DOMAIN="a.vn", DKIM_SELECTOR="s1", DKIM_KEY_FILE=str(missing))
    assert f"DKIM_KEY_FILE: cannot read {missing}: No such file or directory" in message


def test_an_unreadable_dkim_key_file_is_named(tmp_path: Path) -> None:
    """A directory: unreadable as a file even for root, who reads files of any mode."""
    message = problem(DKIM_DOMAIN="a.vn", DKIM_SELECTOR="s1", DKIM_KEY_FILE=str(tmp_path))
    assert f"DKIM_KEY_FILE: cannot read {tmp_path}: Is a directory" in message


def test_a_dkim_key_file_that_is_no_key_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "dkim.pem"
    junk.write_text("not a key")
    message = problem(DKIM_DOMAIN="a.vn", DKIM_SELECTOR="s1", DKIM_KEY_FILE=str(junk))
    assert f"DKIM_KEY_FILE: {junk}:" in message


def test_a_configured_dkim_key_gives_a_signer(tmp_path: Path) -> None:
    key = _pem(tmp_path / "dkim.pem")
    settings = make(DKIM_DOMAIN="a.vn", DKIM_SELECTOR="s1", DKIM_KEY_FILE=str(key))
    signer = settings.dkim_signer()
    assert settings.dkim_configured and signer is not None
    assert signer.sign(b"From: a@a.vn\r\nSubject: x\r\n\r\nhi\r\n").startswith(b"DKIM-Signature:")
    assert make().dkim_signer() is None


def test_a_webhook_network_that_is_not_one_stops_start_up() -> None:
    Settings.model_validate({"WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.1/32", "::1"]})
    with pytest.raises(ValueError, match="WEBHOOK_ALLOWED_NETWORKS: 'localhost' is not a network"):
        Settings.model_validate({"WEBHOOK_ALLOWED_NETWORKS": ["localhost"]})
