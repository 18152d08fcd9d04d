"""Settings read from config/settings.toml, NOTIFIER_SETTINGS's file and the environment."""

from __future__ import annotations

import logging
import re
import typing
from pathlib import Path

import pytest
from flask import Flask

from notifier.app import create_app
from notifier.infra.config import NOT_SETTINGS, ConfigError, build_settings
from notifier.infra.settings import DKIM_KEYS, PLAIN_ENV, PREFIX, Settings, env_names
from tests.conftest import SECRET, configure

ROOT = Path(__file__).resolve().parents[3]
# Upper-case names the docs quote that are not notifier settings: a table in the code, compose's
# own ports, gunicorn's trusted proxies.
NOT_SETTINGS_IN_DOCS = frozenset(
    # CONTAINERS_CONF is podman's own (docs/deployment.md), not notifier's; PYTEST_WORKERS and
    # PYTEST_ONLY are the Makefile's (README: how many processes run the tests, and which).
    {
        "REFUSAL_RULES",
        "WEB_PORT",
        "INBOUND_PUBLISH_PORT",
        "FORWARDED_ALLOW_IPS",
        "CONTAINERS_CONF",
        "PYTEST_WORKERS",
        "PYTEST_ONLY",
    }
)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with no setting in it, whatever the test run itself was given."""
    import os

    for name in list(os.environ):
        if name.startswith(PREFIX) or name in PLAIN_ENV:
            monkeypatch.delenv(name)
    return monkeypatch


def build(tmp_path: Path, **overrides: object) -> Settings:
    return build_settings(tmp_path / "instance", overrides)


def refused(tmp_path: Path, **overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        build(tmp_path, **overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message


def pem_file(tmp_path: Path) -> Path:
    from tests.unit.infra.test_settings import _pem

    return _pem(tmp_path / "dkim.pem")


def test_nothing_set_gives_the_defaults_and_the_embedded_setup(
    environ: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = build(tmp_path)
    assert settings.BATCH_SIZE == 1000 and settings.LOCALES == ["vi", "en"]
    assert f"sqlite:///{tmp_path / 'instance' / 'notifier.sqlite3'}" == settings.DATABASE_URL
    generated = (tmp_path / "instance" / "secret_key").read_text().strip()
    assert generated == settings.SECRET_KEY and len(generated) == 64
    assert generated == build(tmp_path).SECRET_KEY  # kept, so links stay valid across restarts


@pytest.mark.parametrize("key", ["DKIM_DOMAIN", "SECRET_KEY", "METRICS_TOKEN", "DATABASE_URL"])
def test_both_the_prefixed_and_the_plain_name_work(
    environ: pytest.MonkeyPatch, tmp_path: Path, key: str
) -> None:
    extra = {"DKIM_SELECTOR": "s1", "DKIM_KEY_FILE": str(pem_file(tmp_path))}
    value = "x" + SECRET
    for name in (PREFIX + key, key):
        with pytest.MonkeyPatch.context() as env:
            env.setenv(name, value)
            overrides = extra if key == "DKIM_DOMAIN" else {}
            assert getattr(build(tmp_path, **overrides), key) == value, name
    environ.setenv(key, "plain" + SECRET)
    environ.setenv(PREFIX + key, "prefixed" + SECRET)
    overrides = extra if key == "DKIM_DOMAIN" else {}
    assert getattr(build(tmp_path, **overrides), key) == "prefixed" + SECRET


def test_environment_text_is_parsed_into_each_keys_type(
    environ: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environ.setenv("NOTIFIER_BATCH_SIZE", "500")
    environ.setenv("NOTIFIER_SES_WEBHOOK", "true")
    environ.setenv("NOTIFIER_LOCALES", '["en", "vi"]')
    environ.setenv("NOTIFIER_SNS_CERTIFICATES", '{"https://sns/x.pem": "/etc/x.pem"}')
    settings = build(tmp_path)
    assert settings.BATCH_SIZE == 500 and settings.SES_WEBHOOK is True
    assert settings.LOCALES == ["en", "vi"]
    assert settings.SNS_CERTIFICATES == {"https://sns/x.pem": "/etc/x.pem"}


def test_later_sources_win(environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    extra = tmp_path / "site.toml"
    extra.write_text("BATCH_SIZE = 200\nSEND_JOBS = 6\nRATE_MIN_SENT = 50\n")
    environ.setenv("NOTIFIER_SETTINGS", str(extra))
    environ.setenv("NOTIFIER_SEND_JOBS", "8")
    settings = build(tmp_path, RATE_MIN_SENT=9)
    assert (settings.BATCH_SIZE, settings.SEND_JOBS, settings.RATE_MIN_SENT) == (200, 8, 9)


def test_a_misspelled_variable_stops_start_up_naming_it(
    environ: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environ.setenv("NOTIFIER_BACH_SIZE", "500")
    assert refused(tmp_path) == (
        "NOTIFIER_BACH_SIZE: unknown setting (did you mean NOTIFIER_BATCH_SIZE?)"
    )


def test_a_variable_of_the_wrong_type_stops_start_up_naming_it(
    environ: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environ.setenv("NOTIFIER_BATCH_SIZE", "lots")
    assert refused(tmp_path).startswith("NOTIFIER_BATCH_SIZE: Input should be a valid integer")
    environ.setenv("NOTIFIER_BATCH_SIZE", "5")
    environ.setenv("NOTIFIER_LOCALES", "vi,en")
    assert refused(tmp_path).startswith("NOTIFIER_LOCALES: not valid JSON")


def test_a_plain_name_of_the_wrong_value_is_named_as_set(
    environ: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environ.setenv("LOG_FORMAT", "xml")
    assert refused(tmp_path).startswith("LOG_FORMAT: Input should be 'json' or 'text'")


def test_a_misspelled_or_mistyped_key_in_the_settings_file_is_named(
    environ: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    extra = tmp_path / "site.toml"
    environ.setenv("NOTIFIER_SETTINGS", str(extra))
    extra.write_text("SMTP_URI = 'smtp://relay'\n")
    assert refused(tmp_path) == f"SMTP_URI in {extra}: unknown setting (did you mean SMTP_URL?)"
    extra.write_text("CLAIM_LEASE_SECONDS = 'a minute'\n")
    assert refused(tmp_path).startswith(
        f"CLAIM_LEASE_SECONDS in {extra}: Input should be a valid number"
    )
    extra.write_text("BATCH_SIZE = \n")
    assert refused(tmp_path).startswith(f"{extra}: not valid TOML")


def test_a_missing_settings_file_is_named(environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environ.setenv("NOTIFIER_SETTINGS", str(tmp_path / "absent.toml"))
    assert refused(tmp_path) == (
        f"NOTIFIER_SETTINGS={tmp_path / 'absent.toml'}: cannot read: No such file or directory"
    )


def test_a_missing_dkim_key_file_stops_start_up_naming_it(
    environ: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environ.setenv("DKIM_DOMAIN", "example.vn")
    environ.setenv("DKIM_SELECTOR", "s2026")
    environ.setenv("DKIM_KEY_FILE", "/etc/notifier/absent.pem")
    assert refused(tmp_path) == (
        "DKIM_KEY_FILE: cannot read /etc/notifier/absent.pem: No such file or directory"
    )


def test_production_refuses_a_weak_secret_key(environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environ.setenv("SECRET_KEY", "dev")
    assert refused(tmp_path).startswith("SECRET_KEY: too weak for production")
    assert build(tmp_path, TESTING=True).SECRET_KEY == "dev"
    environ.setenv("NOTIFIER_DEV", "true")
    assert build(tmp_path).SECRET_KEY == "dev"


def test_production_warns_when_dkim_is_not_configured(
    environ: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ.setenv("NOTIFIER_INSTANCE_PATH", str(tmp_path / "instance"))
    # Listen on the logger itself: an earlier test may have stopped it propagating to the root.
    logger = logging.getLogger("notifier")
    logger.disabled = False  # a dictConfig in an earlier test may have disabled existing loggers
    logger.addHandler(caplog.handler)
    with caplog.at_level(logging.WARNING, logger="notifier"):
        create_app({"SECRET_KEY": SECRET})
        create_app({"TESTING": True})
        create_app({"DEV": True})
        create_app(
            {
                "SECRET_KEY": SECRET,
                "DKIM_DOMAIN": "a.vn",
                "DKIM_SELECTOR": "s1",
                "DKIM_KEY_FILE": str(pem_file(tmp_path)),
            }
        )
    logging.getLogger("notifier").removeHandler(caplog.handler)
    warnings = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert len(warnings) == 1 and "DKIM is not configured" in warnings.pop()


def test_app_config_refuses_settings_so_no_write_is_silently_ignored(app: Flask) -> None:
    with pytest.raises(KeyError, match="BATCH_SIZE is a notifier setting"):
        app.config["BATCH_SIZE"] = 5
    with pytest.raises(KeyError, match="SMTP_URL is a notifier setting"):
        app.config.update(SMTP_URL="smtp://elsewhere")
    configure(app, BATCH_SIZE=5)
    from notifier.campaigns.lifecycle import _batch_size

    assert _batch_size() == 5
    with pytest.raises(ValueError, match="BATCH_SIZE"):
        configure(app, BATCH_SIZE="many")


def _documented_names() -> tuple[set[str], set[str]]:
    """(environment variables, setting keys) that README.md and docs/*.md name; the operator's
    `export` lines (docs/api.md's are a client's shell, not the service's environment)."""
    variables: set[str] = set()
    keys: set[str] = set()
    for path in DOCS:
        text = path.read_text("utf-8")
        variables |= set(re.findall(r"\bNOTIFIER_[A-Z0-9_]+\b", text))
        variables -= set(re.findall(r"\b(NOTIFIER_[A-Z0-9_]+): unknown setting", text))
        if path.name != "api.md":
            for line in re.findall(r"^\s*export (.*)$", text, flags=re.MULTILINE):
                variables |= set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", line))
        keys |= set(re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`", text))
    table = (ROOT / "README.md").read_text("utf-8").split("## Configuration")[1].split("\n## ")[0]
    for row in re.findall(r"^\| (.+?) \|", table, flags=re.MULTILINE):
        variables |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row))
    return variables, keys - variables


def test_the_misspelling_the_docs_show_is_refused(
    environ: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    (name,) = set(re.findall(r"\b(NOTIFIER_[A-Z0-9_]+): unknown setting", text))
    environ.setenv(name, "1")
    assert refused(tmp_path).startswith(f"{name}: unknown setting")


def _sample(key: str) -> object:
    kind = Settings.model_fields[key].annotation
    samples: dict[object, object] = {int: 7, float: 0.5, bool: True, list[str]: ["en"]}
    if typing.get_origin(kind) is typing.Literal:
        return typing.get_args(kind)[-1]
    if key in ("SECRET_KEY", "SUPPRESSION_SALT"):
        return "y" + SECRET
    if key == "PUBLIC_BASE_URL":
        return "https://mail.example.vn"
    if key == "WEBHOOK_ALLOWED_NETWORKS":  # checked: networks only
        return ["127.0.0.1/32"]
    if key == "DNS_RESOLVER":  # checked: DNS server addresses only
        return "127.0.0.1:5353"
    if kind == dict[str, str]:
        return {"https://sns/a.pem": "/etc/a.pem"}
    return samples.get(kind, "sample-value")


def _as_env(value: object) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def test_every_name_the_docs_give_works(environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    variables, keys = _documented_names()
    assert {"DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_KEY_FILE", "METRICS_TOKEN"} <= variables
    settings_variables = variables - NOT_SETTINGS - NOT_SETTINGS_IN_DOCS
    known = {name: key for key in Settings.model_fields for name in env_names(key)}
    assert settings_variables <= set(known), settings_variables - set(known)
    assert keys <= set(Settings.model_fields) | set(known) | NOT_SETTINGS | NOT_SETTINGS_IN_DOCS
    key_file = str(pem_file(tmp_path))
    for name in sorted(settings_variables):
        key = known[name]
        value = key_file if key == "DKIM_KEY_FILE" else _sample(key)
        with pytest.MonkeyPatch.context() as env:
            env.setenv(name, _as_env(value))
            rest = {other: "a.vn" for other in DKIM_KEYS if other != key}
            overrides = {**rest, "DKIM_KEY_FILE": key_file} if key in DKIM_KEYS else {}
            overrides.pop(key, None)
            assert getattr(build(tmp_path, **overrides), key) == value, name
