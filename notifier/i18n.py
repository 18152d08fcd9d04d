"""Vietnamese first, English second: the locale of a request and the message catalogue."""

from __future__ import annotations

import tomllib
from functools import cache

from flask import request, session
from flask_login import current_user

from notifier.domain.profile import LOCALES
from notifier.infra.config import ROOT

# The admin pages' messages live beside their templates, one `key = { vi = ..., en = ... }` a line.
ADMIN_CATALOGUE = ROOT / "templates" / "admin" / "messages.toml"

MESSAGES: dict[str, dict[str, str]] = {
    "sign_in": {"vi": "Đăng nhập", "en": "Sign in"},
    "sign_out": {"vi": "Đăng xuất", "en": "Sign out"},
    "email": {"vi": "Email", "en": "Email"},
    "password": {"vi": "Mật khẩu", "en": "Password"},
    "admin_title": {"vi": "Quản trị notifier", "en": "notifier administration"},
    "bad_login": {
        "vi": "Email hoặc mật khẩu không đúng.",
        "en": "Wrong email or password.",
    },
    "locked": {
        "vi": "Tài khoản tạm khóa do đăng nhập sai nhiều lần. Vui lòng thử lại sau {minutes} phút.",
        "en": "Too many failed sign-ins. Try again in {minutes} minutes.",
    },
    "welcome": {"vi": "Xin chào", "en": "Welcome"},
    "profile_in_use": {"vi": "Hồ sơ chính sách đang dùng", "en": "Policy profile in use"},
    "purposes": {"vi": "Mục đích xử lý", "en": "Purposes"},
    "advertising": {"vi": "Quảng cáo", "en": "Advertising"},
    "service": {"vi": "Dịch vụ", "en": "Service"},
    "contacts": {"vi": "Liên hệ", "en": "Contacts"},
    "language": {"vi": "Ngôn ngữ", "en": "Language"},
}


@cache
def catalogue() -> dict[str, dict[str, str]]:
    admin = tomllib.loads(ADMIN_CATALOGUE.read_text("utf-8"))
    return {**admin, **MESSAGES}


def current_locale() -> str:
    """?lang= for this session, else the session's choice, else the staff member's, else vi."""
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in LOCALES:
        session["lang"] = chosen
        return str(chosen)
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return str(current_user.locale)
    return "vi"


def translate(key: str, **values: object) -> str:
    text = catalogue()[key][current_locale()]
    return text.format(**values) if values else text


def has_message(key: str) -> bool:
    return key in catalogue()
