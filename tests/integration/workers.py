"""Start real `notifier worker` processes against the test's database, Redis and SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask import Flask

from notifier.infra.settings import settings_of


def worker_env(app: Flask, tmp_path: Path, **extra: str) -> dict[str, str]:
    config = settings_of(app)
    env = {
        **os.environ,
        "DATABASE_URL": config.DATABASE_URL,
        "REDIS_URL": config.REDIS_URL,
        "SMTP_URL": config.SMTP_URL,
        "SECRET_KEY": config.SECRET_KEY,
        "PUBLIC_BASE_URL": config.PUBLIC_BASE_URL,
        "NOTIFIER_PROFILE": config.PROFILE,
        "NOTIFIER_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    env.update({f"NOTIFIER_{key}": value for key, value in extra.items()})
    return env


def start_workers(app: Flask, tmp_path: Path, count: int, **extra: str) -> list[subprocess.Popen]:
    notifier = str(Path(sys.executable).with_name("notifier"))
    return [
        subprocess.Popen(
            [notifier, "worker", "--burst"],
            env=worker_env(app, tmp_path, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(count)
    ]


def wait_all(processes: list[subprocess.Popen], timeout: float = 120) -> list[str]:
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout)
        outputs.append(out.decode(errors="replace"))
        assert process.returncode == 0, outputs[-1][-3000:]
    return outputs
