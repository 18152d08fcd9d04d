"""POST /notices (exactly once per Idempotency-Key), GET /notices/<id>, GET /notice-types, and
each type's reminder schedule (GET and PUT /notice-types/<key>/schedule)."""

from __future__ import annotations

from flask import Response, g, jsonify, url_for

from notifier.api.base import bp
from notifier.api.body import read_body
from notifier.api.fields import MAX_ID
from notifier.api.problems import ApiProblem
from notifier.api.schemas import (
    IdempotencyHeaders,
    Notice,
    NoticeAccepted,
    NoticeRequest,
    NoticeType,
    NoticeTypeList,
    NoticeTypeRequest,
    NoticeTypeUpdate,
    ReminderSchedule,
    ReminderScheduleRequest,
)
from notifier.api.spec import body, header, operation
from notifier.contacts import api_contacts
from notifier.notices import notices, reminders, types
from notifier.notices.views import accepted_view, notice_type_view, notice_view, schedule_view


@bp.post("/notices")
@operation(
    "notices",
    {202: (NoticeAccepted, "Queued; poll status_url for the outcome.")},
    json=NoticeRequest,
    headers=IdempotencyHeaders,
    errors=(409,),
)
def create_notice() -> tuple[Response, int]:
    """Trigger a transactional notice (e.g. a renewal) for a contact, exactly once"""
    notice = body(NoticeRequest)
    key = header(IdempotencyHeaders).idempotency_key
    contact = notice.contact.model_dump(mode="json", exclude_unset=True)
    try:
        result = api_contacts.submit_notice(
            notice.type, contact, notice.data, notice.send_at, key, g.api_key_id, read_body()
        )
    except api_contacts.IdentityChangeRefused as exc:
        raise ApiProblem(
            403,
            str(exc),
            [
                {
                    "field": f"contact.{f}",
                    "detail": "only a key with the 'contacts' scope may "
                    "change this field of an existing contact",
                }
                for f in exc.fields
            ],
        ) from None
    location = url_for("api.notice_status", notice_id=result.notice.id)
    answer = jsonify({**accepted_view(result.notice), "status_url": location})
    answer.headers["Location"] = location
    if not result.created:
        answer.headers["Idempotent-Replayed"] = "true"
    return answer, 202


@bp.get(f"/notices/<int(min=1, max={MAX_ID}):notice_id>")
@operation("notices", {200: (Notice, "The notice.")})
def notice_status(notice_id: int) -> Response:
    """A notice's status: queued, sent, skipped (with the reason) or failed"""
    return jsonify(notice_view(*api_contacts.notice_status(notice_id, g.api_key_id)))


@bp.get("/notice-types")
@operation("notices", {200: (NoticeTypeList, "Active notice types.")})
def notice_types() -> Response:
    """The notice types you may trigger"""
    return jsonify({"items": [notice_type_view(t) for t in api_contacts.notice_types()]})


# Writing a notice type wires a template to mail sent without advertising consent: it takes the
# `templates` scope (who may author templates), not `notices` (who may only trigger them).
@bp.post("/notice-types")
@operation(
    "templates",
    {201: (NoticeType, "Created.")},
    json=NoticeTypeRequest,
    errors=(409,),
    state_checked=("template_id",),
)
def create_notice_type() -> tuple[Response, int]:
    """Define a notice type: a key, a service purpose and a template for it"""
    new = body(NoticeTypeRequest)
    if types.exists(new.key):
        raise ApiProblem(409, f"notice type {new.key!r} exists; change it with PUT")
    created = notices.define_notice_type(new.key, new.name, new.purpose, new.template_id)
    return jsonify(notice_type_view(created)), 201


@bp.put("/notice-types/<string(maxlength=64):key>")
@operation(
    "templates",
    {200: (NoticeType, "Updated.")},
    json=NoticeTypeUpdate,
    state_checked=("template_id",),
)
def update_notice_type(key: str) -> Response:
    """Change a notice type's name, purpose or template (reactivates it)"""
    if not types.exists(key):
        raise ApiProblem(404, f"notice type {key!r} not found")
    change = body(NoticeTypeUpdate)
    changed = notices.define_notice_type(key, change.name, change.purpose, change.template_id)
    return jsonify(notice_type_view(changed))


TYPE_KEY = "/notice-types/<string(maxlength=64):key>/schedule"


@bp.get(TYPE_KEY)
@operation("notices", {200: (ReminderSchedule, "The type's reminder schedule.")})
def reminder_schedule(key: str) -> Response:
    """A notice type's reminder schedule (404 when it has none)"""
    schedule = reminders.schedule_of(key)
    if schedule is None:
        raise ApiProblem(404, f"notice type {key!r} has no reminder schedule")
    return jsonify(schedule_view(key, schedule))


# Like the type itself, its schedule decides what service mail goes out: the `templates` scope.
@bp.put(TYPE_KEY)
@operation(
    "templates",
    {200: (ReminderSchedule, "Saved.")},
    json=ReminderScheduleRequest,
    state_checked=("steps",),
)
def put_reminder_schedule(key: str) -> Response:
    """Set a notice type's reminder schedule: days relative to each active subscription's
    expiry, each sent once at a local hour (see docs/reminders.md)"""
    given = body(ReminderScheduleRequest)
    saved = reminders.set_schedule(key, given.steps, given.local_hour, given.paused)
    return jsonify(schedule_view(key, saved))
