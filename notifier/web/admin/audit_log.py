"""The audit log page: who viewed, searched, edited or exported personal data, and when."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import render_template, request

from notifier.infra.context import profile
from notifier.operations.audit_log import AuditFilter, browse
from notifier.web.admin.blueprint import bp
from notifier.web.admin.guard import requires, staff_access


def _day(text: str, shift: int = 0) -> datetime | None:
    """A local calendar day from the filter, as the UTC instant it starts (or the next one)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    start = datetime.combine(
        day + timedelta(days=shift), time(), ZoneInfo(profile().default_time_zone)
    )
    return start


@bp.get("/audit")
@requires("audit.view")
def audit_log() -> str:
    args = request.args
    page = args.get("page", "1")
    wanted = AuditFilter(
        actor=args.get("actor", "")[:100].strip(),
        action=args.get("action", "")[:64].strip(),
        object_type=args.get("object_type", "")[:64].strip(),
        object_id=args.get("object_id", "")[:64].strip(),
        since=_day(args.get("since", "")),
        until=_day(args.get("until", ""), shift=1),
        page=int(page) if page.isdigit() else 1,
    )
    return render_template("admin/audit.html", found=browse(staff_access(), wanted), wanted=wanted)
