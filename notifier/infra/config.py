"""Loading settings: config/settings.toml, then NOTIFIER_SETTINGS's file, then the environment."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsError,
    TomlConfigSettingsSource,
)

from notifier.infra.settings import PREFIX, Settings, defaults_path, env_names

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
PROFILES_DIR = CONFIG_DIR / "profiles"
# NOTIFIER_* variables that are not settings: read before settings exist, or by tools.
NOT_SETTINGS = frozenset(
    {
        "NOTIFIER_SETTINGS",
        "NOTIFIER_INSTANCE_PATH",
        "NOTIFIER_KEY",  # the API key in docs/api.md's shell examples
        "NOTIFIER_FAULT_RESTART_PG",  # the test suite's fault injection
        "NOTIFIER_TEST_ISOLATED",  # the test suite's own (tests/conftest.py)
        # The chaos suite's long form, its size and its figures file (docs/chaos.md).
        "NOTIFIER_CHAOS_LONG",
        "NOTIFIER_CHAOS_CONTACTS",
        "NOTIFIER_CHAOS_FIGURES",
    }
)


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it and says why, on one line."""


class _Loaded(Settings):
    """Settings read from the TOML files and the environment, in that order of strength."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = TomlConfigSettingsSource(settings_cls, _toml_files())
        return tuple(_ByFieldName(source) for source in (init_settings, env_settings, files))


class _ByFieldName(PydanticBaseSettingsSource):
    """Sources name a value by the alias they found it under (SECRET_KEY from the environment,
    NOTIFIER_SECRET_KEY from a file); one key per setting lets the stronger source win."""

    def __init__(self, source: PydanticBaseSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self.source = source

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {_field_of(key): value for key, value in self.source().items()}


def build_settings(instance_path: Path, overrides: Mapping[str, Any] | None = None) -> Settings:
    """The one Settings object of a process; ConfigError names the first unusable setting."""
    files = _toml_files()
    for path in files:
        _read_toml(path)  # a missing or broken file is named here, not skipped
    _reject_unknown_variables()
    try:
        loaded = _Loaded(**dict(overrides or {}))
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(error, files) for error in exc.errors())) from None
    except SettingsError as exc:
        raise ConfigError(_describe_parse_error(str(exc))) from None
    settings = Settings.model_construct(**dict(loaded))
    return _embedded_defaults(settings, instance_path)


def _toml_files() -> list[Path]:
    extra = os.environ.get("NOTIFIER_SETTINGS")
    return [defaults_path(), *([Path(extra)] if extra else [])]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        label = path if path == defaults_path() else f"NOTIFIER_SETTINGS={path}"
        raise ConfigError(f"{label}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _reject_unknown_variables() -> None:
    known = {name for key in Settings.model_fields for name in env_names(key)}
    for name in sorted(os.environ):
        if name.startswith(PREFIX) and name not in known and name not in NOT_SETTINGS:
            raise ConfigError(f"{name}: unknown setting{_suggestion(name, known)}")


def _suggestion(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _describe(error: Mapping[str, Any], files: list[Path]) -> str:
    """'<where it was set>: <problem>', where is the variable or the file and key."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    key = _field_of(str(error["loc"][0]))
    if error["type"] == "extra_forbidden":
        known = set(Settings.model_fields)
        return f"{_where(key, files)}: unknown setting{_suggestion(key, known)}"
    return f"{_where(key, files)}: {message} (got {error['input']!r})"


def _field_of(name: str) -> str:
    bare = name.removeprefix(PREFIX)
    return bare if bare in Settings.model_fields else name


def _where(key: str, files: list[Path]) -> str:
    for name in env_names(key):
        if name in os.environ:
            return name
    for path in reversed(files):
        if key in _read_toml(path):
            return f"{key} in {path}"
    return key


def _describe_parse_error(message: str) -> str:
    """pydantic-settings could not parse a list or table from the environment as JSON."""
    found = re.search(r'field "(\w+)"', message)
    key = found.group(1) if found else "?"
    name = next((n for n in env_names(key) if n in os.environ), key)
    return f'{name}: not valid JSON (a list is written ["a", "b"], a table {{"k": "v"}})'


def _embedded_defaults(settings: Settings, instance_path: Path) -> Settings:
    """A SQLite file and a generated secret under instance/, so a first run needs nothing set."""
    changes: dict[str, str] = {}
    if not settings.DATABASE_URL:
        changes["DATABASE_URL"] = f"sqlite:///{instance_path / 'notifier.sqlite3'}"
    if not settings.SECRET_KEY:
        changes["SECRET_KEY"] = _instance_secret(instance_path)
    return settings.model_copy(update=changes)


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
