"""The container files agree with the settings, and the entry point refuses a half configuration.

`make image-test` (deploy/image_test.py) runs the image itself; these checks are quick enough for
every test run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from notifier.infra.config import CONFIG_DIR, ROOT
from notifier.infra.settings import PLAIN_ENV

ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
ENV_EXAMPLE = (ROOT / ".env.example").read_text("utf-8")
# Read from the environment by the entry point, gunicorn or compose, not by the settings.
PROCESS_VARIABLES = ("WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "POSTGRES_PASSWORD", "WEB_PORT")


def _listed(name: str) -> bool:
    return re.search(rf"^#? ?{re.escape(name)}=", ENV_EXAMPLE, re.MULTILINE) is not None


def test_env_example_lists_every_setting() -> None:
    keys = tomllib.loads((CONFIG_DIR / "settings.toml").read_text("utf-8"))
    names = [key if key in PLAIN_ENV else f"NOTIFIER_{key}" for key in keys]
    documented = [n for n in names if _listed(n) or re.search(rf"\b{n}\b", ENV_EXAMPLE)]
    assert sorted(set(names) - set(documented)) == []
    assert all(_listed(name) for name in (*PLAIN_ENV, *PROCESS_VARIABLES))


def test_compose_uses_only_variables_of_env_example() -> None:
    compose = (ROOT / "compose.yaml").read_text("utf-8")
    used = set(re.findall(r"\$\{([A-Z_]+)", compose))
    assert used, "compose.yaml interpolates no variable: the pattern above is wrong"
    assert sorted(n for n in used if not _listed(n)) == []


def _entrypoint(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env={"PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("command", ["web", "worker", "scheduler", "inbound", "setup"])
def test_a_process_without_its_settings_refuses_to_start_in_both_languages(command: str) -> None:
    result = _entrypoint(command, REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode == 64
    assert "Thiếu biến môi trường: DATABASE_URL SECRET_KEY" in result.stderr
    assert "Missing environment variables: DATABASE_URL SECRET_KEY" in result.stderr


def test_a_cli_command_needs_the_database_but_help_does_not(tmp_path: Path) -> None:
    assert _entrypoint("notifier", "staff", "create", "a@example.vn").returncode == 64
    shown = _entrypoint("notifier", "--help", NOTIFIER_INSTANCE_PATH=str(tmp_path))
    assert shown.returncode == 0 and "staff" in shown.stdout


def test_any_other_command_runs_as_given() -> None:
    result = _entrypoint("echo", "xin chào")
    assert (result.returncode, result.stdout) == (0, "xin chào\n")


def test_the_image_context_is_an_allow_list_without_tests_or_local_state() -> None:
    lines = [
        line
        for line in (ROOT / ".containerignore").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert not {"!tests", "!.venv", "!instance", "!.git", "!.env"} & set(lines)
    assert (ROOT / ".dockerignore").resolve() == (ROOT / ".containerignore").resolve()
