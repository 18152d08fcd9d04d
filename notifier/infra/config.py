"""Settings: config/settings.toml, then an optional file, then the environment; never at import."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
PROFILES_DIR = CONFIG_DIR / "profiles"
# Read without the NOTIFIER_ prefix because hosting platforms and the Procfile set them that way.
PLAIN_ENV = ("DATABASE_URL", "REDIS_URL", "SMTP_URL", "SECRET_KEY", "PUBLIC_BASE_URL")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


def load_settings(
    instance_path: Path, environ: Mapping[str, str] | None = None, overrides: Mapping | None = None
) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = tomllib.loads((CONFIG_DIR / "settings.toml").read_text("utf-8"))
    extra = environ.get("NOTIFIER_SETTINGS")
    if extra:
        try:
            settings.update(tomllib.loads(Path(extra).read_text("utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"NOTIFIER_SETTINGS={extra}: {exc}") from None
    for key, value in environ.items():
        if key.startswith("NOTIFIER_") and key != "NOTIFIER_SETTINGS":
            settings[key.removeprefix("NOTIFIER_")] = _parse(value)
    for key in PLAIN_ENV:
        if environ.get(key):
            settings[key] = environ[key]
    settings.update(overrides or {})
    _apply_embedded_defaults(settings, instance_path)
    return settings


def _parse(value: str) -> Any:
    """Numbers, booleans and JSON lists arrive as text in the environment."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _apply_embedded_defaults(settings: dict[str, Any], instance_path: Path) -> None:
    if not settings.get("DATABASE_URL"):
        settings["DATABASE_URL"] = f"sqlite:///{instance_path / 'notifier.sqlite3'}"
    settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(settings["DATABASE_URL"])
    if not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = _instance_secret(instance_path)


def normalise_database_url(url: str) -> str:
    """postgres:// and postgresql:// both mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _instance_secret(instance_path: Path) -> str:
    """A generated secret kept in instance/ so the embedded setup needs no configuration."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()


def profile_path(name: str) -> Path:
    candidate = Path(name)
    if candidate.suffix == ".toml" or "/" in name:
        return candidate
    return PROFILES_DIR / f"{name}.toml"
