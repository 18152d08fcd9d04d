"""The CPU-time and size budget of staff templates: bounded growth always, a CPU clock on demand."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType
from typing import Any

from jinja2.exceptions import SecurityError

# One render may produce this many characters (Gmail already clips a message past ~100 KB).
MAX_OUTPUT = 1_000_000
# range() in a template: enough for any layout; nesting two of them is stopped by the clock.
MAX_RANGE = 10_000
# CPU seconds for everything a budgeted request renders (a preview, a save, a test send).
CPU_SECONDS = 1.0
CHECK_EVERY = 512  # template lines between looks at the clock
# A width or precision of a million or more in a %-format or a {}-format field.
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(\*|\d{7,})|%[-#0 +]*\d*\.(\*|\d{7,})|\{[^{}]*:[^{}]*\d{7,}")

_deadline: ContextVar[float | None] = ContextVar("template_budget_deadline", default=None)


class BudgetExceeded(SecurityError):
    """The template used more CPU time or built more text than a staff template may."""


def too_long(size: int) -> None:
    if size > MAX_OUTPUT:
        raise BudgetExceeded(f"the template would build more than {MAX_OUTPUT:,} characters")


def check_arguments(args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    """A width, count or repeat of a million or more is refused before it allocates anything."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT:
            raise BudgetExceeded(f"the number {value} is larger than a template may use")


def check_format(pattern: object) -> None:
    if isinstance(pattern, str) and _WIDE_FORMAT.search(pattern):
        raise BudgetExceeded("a format width or precision of a million or more is not allowed")


def replaced_size(text: str, old: str, new: str) -> int:
    return len(text) + text.count(old) * (len(new) - len(old)) if old else len(new) * len(text)


def joined_size(items: Iterable[Any], separator: str) -> int:
    count, size = 0, 0
    for item in items:
        count, size = count + 1, size + len(str(item))
        too_long(size)
    return size + len(separator) * max(count - 1, 0)


def capped_range(*args: int) -> range:
    check_arguments(args, {})
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise BudgetExceeded(f"range() of more than {MAX_RANGE:,} numbers")
    return numbers


def bounded_concat(pieces: Iterable[str]) -> str:
    """Jinja's join of a render's output; under a budget it stops at MAX_OUTPUT characters."""
    if _deadline.get() is None:
        return "".join(pieces)
    kept, size = [], 0
    for piece in pieces:
        size += len(piece)
        too_long(size)
        kept.append(piece)
    return "".join(kept)


@contextmanager
def cpu_budget(seconds: float = CPU_SECONDS) -> Iterator[None]:
    """Stop this thread's template code after `seconds` of CPU time (nested: the outer counts).

    Only frames of compiled templates ("<template>") are traced, and only inside this block: the
    send path, which renders templates already validated, never pays for it."""
    if _deadline.get() is not None:
        yield
        return
    deadline = time.thread_time() + seconds
    lines = 0

    def on_line(frame: FrameType, event: str, arg: object) -> Callable[..., Any]:
        nonlocal lines
        if event == "line":
            lines += 1
            if lines % CHECK_EVERY == 0:
                if time.thread_time() > deadline:
                    raise BudgetExceeded(f"the template ran longer than {seconds:g} s of CPU time")
                # Let the worker's other request threads run now rather than at the next GIL
                # switch: a long render must not hold up a page being served beside it.
                time.sleep(0)
        return on_line

    def on_call(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        return on_line if frame.f_code.co_filename == "<template>" else None

    token = _deadline.set(deadline)
    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)
        _deadline.reset(token)
