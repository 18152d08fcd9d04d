"""Second-factor rules: TOTP steps with replay refusal, recovery codes, the role flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from notifier.domain.profile import ProfileError, load_profile
from notifier.domain.second_factor import (
    RECOVERY_ALPHABET,
    accepted_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
    provisioning_uri,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 11, 26, 8, 0, 15, tzinfo=UTC)
STEP = int(NOW.timestamp()) // 30
PROFILES = Path(__file__).resolve().parents[3] / "config" / "profiles"


def code_at(offset: int) -> str:
    return pyotp.TOTP(SECRET).at(NOW + timedelta(seconds=30 * offset))


@pytest.mark.parametrize(
    ("offset", "last_step", "accepted"),
    [
        (0, None, STEP),
        (-1, None, STEP - 1),  # the phone's clock a little behind
        (1, None, STEP + 1),  # or a little ahead
        (-2, None, None),
        (2, None, None),
        (0, STEP - 1, STEP),
        (0, STEP, None),  # the same code again: a replay
        (-1, STEP - 1, None),
        (-1, STEP, None),  # an older code after a newer one
        (1, STEP, STEP + 1),
    ],
)
def test_accepted_step(offset: int, last_step: int | None, accepted: int | None) -> None:
    assert accepted_step(SECRET, code_at(offset), NOW, last_step) == accepted


@pytest.mark.parametrize(
    "typed", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5", "0000000"]
)
def test_malformed_codes_are_refused(typed: str) -> None:
    assert accepted_step(SECRET, typed, NOW, None) is None


def test_spaces_as_apps_show_them_are_ignored() -> None:
    code = code_at(0)
    assert accepted_step(SECRET, f" {code[:3]} {code[3:]} ", NOW, None) == STEP


def test_secrets_are_160_bits_and_differ() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50 and all(len(s) == 32 for s in secrets)


def test_the_provisioning_uri_names_the_account_and_issuer() -> None:
    uri = provisioning_uri(SECRET, "lan@example.vn", "notifier DCNET")
    assert uri.startswith("otpauth://totp/notifier%20DCNET:lan%40example.vn?")
    assert f"secret={SECRET}" in uri and "issuer=notifier%20DCNET" in uri


def test_recovery_codes() -> None:
    codes = new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        left, dash, right = code.partition("-")
        assert dash and len(left) == len(right) == 5
        assert set(left + right) <= set(RECOVERY_ALPHABET)
        assert normalise_recovery_code(code) == code


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("k3xm9-p2hqa", "k3xm9-p2hqa"),
        ("K3XM9P2HQA", "k3xm9-p2hqa"),
        (" k3xm9 p2hqa ", "k3xm9-p2hqa"),
        ("k3xm9-p2hq", None),
        ("k3xm9-p2hqaa", None),
        ("k3xm0-p2hqa", None),  # 0 is not in the alphabet: read as o, which is not either
        ("123456", None),
        ("", None),
    ],
)
def test_normalise_recovery_code(typed: str, stored: str | None) -> None:
    assert normalise_recovery_code(typed) == stored


@pytest.mark.parametrize("name", ["dcnet", "caycanhhoanggia"])
def test_the_shipped_profiles_require_a_second_factor_for_admin_only(name: str) -> None:
    profile = load_profile(PROFILES / f"{name}.toml")
    assert {r.key for r in profile.roles if r.require_two_factor} == {"admin"}


def test_a_role_may_require_a_second_factor(tmp_path: Path) -> None:
    text = (PROFILES / "dcnet.toml").read_text("utf-8")
    marked = text.replace('key = "management"\n', 'key = "management"\nrequire_two_factor = true\n')
    (tmp_path / "p.toml").write_text(marked, "utf-8")
    profile = load_profile(tmp_path / "p.toml")
    assert profile.role("management").require_two_factor
    (tmp_path / "p.toml").write_text(marked.replace("= true\n", '= "yes"\n', 1), "utf-8")
    with pytest.raises(ProfileError, match="require_two_factor: must be a bool"):
        load_profile(tmp_path / "p.toml")
