"""The deliverability page: `notifier doctor` in the browser, for those who may see it."""

from __future__ import annotations

from flask import render_template, request

from notifier.domain.deliverability import Level
from notifier.i18n import current_locale
from notifier.operations import doctor
from notifier.operations.doctor import BadDomain
from notifier.web.admin.blueprint import bp
from notifier.web.admin.guard import requires

_BADGE = {Level.OK: "sent", Level.WARNING: "pending", Level.ERROR: "failed"}


@bp.get("/deliverability")
@requires(doctor.PERMISSION)
def deliverability() -> tuple[str, int]:
    # Asks DNS on each visit: the page shows the records as they are now, not as cached.
    domain = request.args.get("domain", "").strip() or None
    try:
        report = doctor.run_doctor(domain)
    except BadDomain:
        return render_template(
            "admin/deliverability.html", report=None, domain=domain, bad_domain=True
        ), 400
    explained = [(f, doctor.explain(f, current_locale()), _BADGE[f.level]) for f in report.findings]
    return render_template(
        "admin/deliverability.html", report=report, findings=explained, domain=domain,
        counts=doctor.counts(report.findings), bad_domain=False,
    ), 200  # fmt: skip
