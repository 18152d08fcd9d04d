"""Jinja environments (a sandbox for staff templates, a trusted one for system parts), filters."""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifier.delivery.rendering import budget
from notifier.infra import translations

EMAILS_DIR = Path(__file__).resolve().parents[3] / "templates" / "emails"
DEFAULT_TIME_ZONE = "Asia/Ho_Chi_Minh"
# Bounds on what `*` and `**` may build: a template must not be able to exhaust a worker's memory.
MAX_SEQUENCE = 100_000
MAX_EXPONENT = 64

_DATE_PATTERNS = {
    ("vi", "short"): "dd/MM/yyyy",
    ("vi", "long"): "EEEE, dd/MM/yyyy",
    ("en", "short"): "MMM d, yyyy",
    ("en", "long"): "EEEE, MMMM d, yyyy",
}
_TIME_PATTERNS = {"vi": "HH:mm", "en": "h:mm a"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: str) -> str:
    """Header-safe text: control characters (CR, LF, NUL...) become spaces; spaces collapse."""
    return " ".join(_CONTROL.sub(" ", value).split())


def _locale(ctx: Context) -> str:
    return "en" if ctx.get("locale") == "en" else "vi"


@pass_context
def translate(ctx: Context, vi: str, en: str) -> str:
    """Staff templates carry both languages inline: `t("Xin chào", "Hello")`."""
    return en if _locale(ctx) == "en" else vi


@pass_context
def system_text(ctx: Context, msgid: str) -> str:
    """The system parts' fixed texts (the footer) come from the gettext catalogs."""
    return translations.gettext(str(ctx.get("locale") or translations.DEFAULT_LOCALE), msgid)


@pass_context
def system_text_in(ctx: Context, context: str, msgid: str) -> str:
    locale = str(ctx.get("locale") or translations.DEFAULT_LOCALE)
    return translations.pgettext(locale, context, msgid)


def _moment(ctx: Context, value: object) -> dt.date:
    if isinstance(value, str):
        # A date has 10 characters; anything longer is a date and time, whichever separator
        # (JSON and str() of a datetime write a space, ISO 8601 a "T").
        parse = dt.datetime.fromisoformat if len(value) > 10 else dt.date.fromisoformat
        value = parse(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # Show aware times in the recipient's zone; naive ones are already local by convention.
        return value.astimezone(ZoneInfo(str(ctx.get("time_zone") or DEFAULT_TIME_ZONE)))
    if not isinstance(value, dt.date):
        raise TypeError(f"expected a date, got {type(value).__name__}")
    return value


@pass_context
def date_filter(ctx: Context, value: object, style: str = "short") -> str:
    locale = _locale(ctx)
    pattern = _DATE_PATTERNS.get((locale, style))
    if pattern is None:
        raise ValueError(f"date style must be 'short' or 'long', not {style!r}")
    return format_date(_moment(ctx, value), pattern, locale=locale)


@pass_context
def time_filter(ctx: Context, value: object) -> str:
    moment = _moment(ctx, value)
    if not isinstance(moment, dt.datetime):
        raise TypeError("time needs a date and time, not a date")
    locale = _locale(ctx)
    return format_time(moment, _TIME_PATTERNS[locale], locale=locale)


@pass_context
def money_filter(ctx: Context, amount: int | float | Decimal | str, currency: str = "VND") -> str:
    return format_currency(Decimal(str(amount)), currency, locale=_locale(ctx))


@pass_context
def number_filter(ctx: Context, value: int | float | Decimal | str) -> str:
    return format_decimal(Decimal(str(value)), locale=_locale(ctx))


def _install(env: Environment) -> None:
    env.globals["t"] = translate
    env.filters.update(date=date_filter, time=time_filter, money=money_filter, number=number_filter)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Staff templates: no attribute escapes, no mutation, no raw output, bounded growth.

    Every way to build a long string in one step (`*`, `%`, growing filters and str methods)
    is checked before it allocates; loops are bounded by range() and, where a person waits
    for the render, by budget.cpu_budget. The checks cost only at calls, never per output node.
    """

    intercepted_binops = frozenset({"*", "**", "%"})
    concat = staticmethod(budget.bounded_concat)

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent larger than {MAX_EXPONENT}")
            return operator.pow(left, right)
        if operator_name == "%":
            if isinstance(left, str):
                budget.check_format(left)
                budget.check_arguments(right if isinstance(right, tuple) else (right,), {})
            return operator.mod(left, right)
        for sequence, count in ((left, right), (right, left)):
            sized = isinstance(sequence, str | list | tuple) and isinstance(count, int)
            if sized and len(sequence) * count > MAX_SEQUENCE:
                raise SecurityError(f"result longer than {MAX_SEQUENCE}")
        return operator.mul(left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget.check_arguments(args, kwargs)
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(__obj, "__name__", ""), args)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str):
            budget.too_long(len(result))
        return result


def _check_str_method(owner: str, name: str, args: tuple[Any, ...]) -> None:
    if name in ("format", "format_map"):
        budget.check_format(owner)
    elif name == "replace" and len(args) >= 2:
        budget.too_long(budget.replaced_size(owner, str(args[0]), str(args[1])))
    elif name == "join" and args:
        budget.joined_size(args[0], owner)
    elif name == "expandtabs":
        budget.too_long(len(owner) + owner.count("\t") * int(args[0] if args else 8))


def _bounded_filters(env: Environment) -> None:
    """The filters that can make a long string from a short template, checked before they run."""
    original = dict(env.filters)

    def guarded(name: str, check: Any) -> None:
        run = original[name]
        # A @pass_eval_context filter (join, replace, ...) gets that context first: skip it.
        skip = 1 if hasattr(run, "jinja_pass_arg") else 0

        def bounded(*args: Any, **kwargs: Any) -> Any:
            budget.check_arguments(args[skip:], kwargs)
            check(*args[skip:], **kwargs)
            return run(*args, **kwargs)

        env.filters[name] = functools.update_wrapper(bounded, run)

    def nothing_more(*args: Any, **kwargs: Any) -> None:
        return None

    def replace(s: Any, old: Any, new: Any, count: Any = None, *rest: Any) -> None:
        budget.too_long(budget.replaced_size(str(s), str(old), str(new)))

    def join(value: Any, d: Any = "", *rest: Any, **kwargs: Any) -> None:
        budget.joined_size(value, str(d))

    def indent(s: Any, width: Any = 4, *rest: Any, **kwargs: Any) -> None:
        step = len(width) if isinstance(width, str) else int(width)
        budget.too_long(len(str(s)) + (str(s).count("\n") + 1) * step)

    def format_(value: Any, *args: Any, **kwargs: Any) -> None:
        budget.check_format(value)

    for name in ("center", "batch", "slice", "wordwrap", "truncate"):
        guarded(name, nothing_more)
    guarded("replace", replace)
    guarded("join", join)
    guarded("indent", indent)
    guarded("format", format_)
    env.globals["range"] = budget.capped_range


def _sandbox(autoescape: bool) -> Environment:
    env = _Sandbox(
        autoescape=autoescape,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,  # block tags on their own line leave no blank line behind
        lstrip_blocks=True,
    )
    # Without `safe` no staff expression can emit raw markup, so only the template's own, checked,
    # HTML reaches the message.
    del env.filters["safe"]
    _bounded_filters(env)
    _install(env)
    return env


STAFF_HTML = _sandbox(autoescape=True)
STAFF_PLAIN = _sandbox(autoescape=False)

SYSTEM = Environment(
    loader=FileSystemLoader(EMAILS_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_install(SYSTEM)
SYSTEM.globals.update(t=system_text, pgettext=system_text_in)
