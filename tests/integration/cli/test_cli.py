"""The operator's commands: clear output, clear errors, non-zero exit status on failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner

from notifier.cli import main
from notifier.infra.extensions import db
from notifier.infra.hashing import verify_secret
from notifier.models import ApiKey, StaffUser
from notifier.operations.staff import authenticate_api_key

NOTIFIER = str(Path(sys.executable).with_name("notifier"))


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NOTIFIER, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )


def test_staff_create_prints_a_password_that_works(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, args=["staff", "create", "Lan@Example.com", "--role", "marketing"])
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].strip()
    user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == "lan@example.com"))
    assert user is not None and verify_secret(user.password_hash, password)
    assert password not in user.password_hash


def test_staff_create_refuses_an_unknown_role(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, args=["staff", "create", "a@example.com", "--role", "boss"])
    assert result.exit_code != 0
    assert "unknown role 'boss'" in result.output and "admin" in result.output


def test_apikey_create_prints_the_key_once(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, args=["apikey", "create", "billing", "--scope", "notices"])
    assert result.exit_code == 0, result.output
    key = result.output.split("key: ")[1].strip()
    stored = db.session.scalar(db.select(ApiKey))
    assert stored is not None and key not in stored.key_hash
    assert authenticate_api_key(key, "notices") is not None
    assert authenticate_api_key(key, "campaigns") is None


def test_apikey_create_refuses_an_unknown_scope(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, args=["apikey", "create", "x", "--scope", "everything"])
    assert result.exit_code != 0 and "choose from" in result.output


def test_profile_check_names_file_key_and_problem(tmp_path: Path) -> None:
    good = run("profile", "check", "config/profiles/dcnet.toml")
    assert good.returncode == 0 and "purposes" in good.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(
        Path("config/profiles/dcnet.toml")
        .read_text()
        .replace('kind = "service"', 'kind = "spam"', 1)
    )
    result = run("profile", "check", str(bad))
    assert result.returncode == 1
    assert str(bad) in result.stderr and ".kind" in result.stderr and "'spam'" in result.stderr


def test_a_broken_profile_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('key = "x"\nname = "X"\n')
    result = run("setup", NOTIFIER_PROFILE=str(bad), NOTIFIER_INSTANCE_PATH=str(tmp_path))
    assert result.returncode != 0
    # One clear line naming the file and a missing key (the first of several missing ones).
    assert f"cannot start: {bad}: " in result.stderr and ": is missing" in result.stderr
    assert "Traceback" not in result.stderr
