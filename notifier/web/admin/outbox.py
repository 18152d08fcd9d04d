"""The built-in outbox: mail the embedded SMTP server received, rendered, with its headers."""

from __future__ import annotations

from flask import Response, render_template, request

from notifier.operations import mailview
from notifier.web.admin.blueprint import bp
from notifier.web.admin.guard import requires, staff_access


@bp.get("/outbox")
@requires("outbox.view")
def outbox() -> str:
    page = request.args.get("page", "1")
    search = request.args.get("q", "")[:200]
    found = mailview.outbox_page(staff_access(), int(page) if page.isdigit() else 1, search)
    return render_template("admin/outbox/list.html", found=found, search=search)


@bp.get("/outbox/<int:message_id>")
@requires("outbox.view")
def outbox_message(message_id: int) -> str:
    message, mail = mailview.outbox_message(staff_access(), message_id)
    return render_template("admin/outbox/detail.html", message=message, mail=mail)


@bp.get("/outbox/<int:message_id>.eml")
@requires("outbox.view")
def outbox_eml(message_id: int) -> Response:
    raw = mailview.outbox_raw(staff_access(), message_id)
    response = Response(raw, mimetype="message/rfc822")
    # An attachment, never rendered inline: the bytes are the sender's, not ours.
    response.headers["Content-Disposition"] = f'attachment; filename="outbox-{message_id}.eml"'
    return response
