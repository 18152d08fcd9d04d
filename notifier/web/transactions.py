"""Every view is the entry point of one unit of work (notifier/infra/unit_of_work.py).

`in_units_of_work(app)` wraps each registered view once, at start-up, so no view can forget it.
The view's use cases only flush. When the view returns a response, whatever its status, the unit
commits and then enqueues the jobs they asked for: a page that answers a refusal still keeps what
it recorded, such as a failed sign-in's count toward the lockout or the audit row of the personal
data it showed. When the view raises (abort, an unexpected error), everything rolls back and no
job is enqueued. A use case or view that refuses after staging changes drops them explicitly
with `discard()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from notifier.infra.unit_of_work import transactional

_WRAPPED = "in_unit_of_work"


def in_units_of_work(app: Flask) -> None:
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static" and not getattr(view, _WRAPPED, False):
            app.view_functions[endpoint] = _wrap(view)


def _wrap(view: Callable[..., Any]) -> Callable[..., Any]:
    run = transactional(view)
    setattr(run, _WRAPPED, True)
    return run


__all__ = ["in_units_of_work"]
