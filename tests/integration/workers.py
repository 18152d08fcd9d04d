"""Start real `notifier worker` processes against the test's database, Redis and SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask import Flask


def worker_env(app: Flask, tmp_path: Path, **extra: str) -> dict[str, str]:
    config = app.config
    env = {
        **os.environ,
        "DATABASE_URL": str(config["DATABASE_URL"]),
        "REDIS_URL": str(config["REDIS_URL"]),
        "SMTP_URL": str(config.get("SMTP_URL") or ""),
        "SECRET_KEY": str(config["SECRET_KEY"]),
        "PUBLIC_BASE_URL": str(config["PUBLIC_BASE_URL"]),
        "NOTIFIER_PROFILE": str(config["PROFILE"]),
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
