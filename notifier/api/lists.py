"""What a CRM or billing system needs besides triggering notices, so it never needs the admin
pages: the contact list and erasure, the suppression list, a campaign's report row by row,
templates and notice types made from the built-in layouts.

Lists take `limit` (at most 200) and an opaque `cursor` (notifier/api/paging.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, g, jsonify, request

from notifier.api import paging
from notifier.api.base import bp
from notifier.api.contacts import _ref
from notifier.api.fields import MAX_ID
from notifier.api.schemas_lists import (
    CampaignReport,
    ContactPage,
    ContactQuery,
    Erased,
    LayoutTemplate,
    LayoutTemplateRequest,
    NoticeTemplateUpdate,
    NoticeTypeCreated,
    NoticeTypeDetail,
    NoticeTypeFromLayout,
    ReportQuery,
    Suppression,
    SuppressionPage,
    SuppressionQuery,
    SuppressionRequest,
    TemplatePage,
    TemplateQuery,
)
from notifier.api.spec import body, operation, query
from notifier.campaigns import reports, templates
from notifier.campaigns.views import template_view
from notifier.contacts import api_contacts, api_directory
from notifier.contacts.views import contact_view, iso
from notifier.domain.locales import Variant
from notifier.notices import notices
from notifier.notices.views import notice_type_view
from notifier.privacy import requests as privacy

CURSOR_STATE = ("cursor",)  # a cursor's signature and filters: no schema can state them


@bp.get("/contacts")
@operation(
    "contacts",
    {200: (ContactPage, "A page of contacts, by creation order.")},
    query=ContactQuery,
    state_checked=CURSOR_STATE,
)
def list_contacts() -> Response:
    """Contacts matching a search (part of the email or name, a tag, a locale), page by page"""
    asked = query(ContactQuery)
    filters = {"q": asked.q, "tag": asked.tag, "locale": asked.locale}
    after = paging.after_id("contacts", asked.cursor, filters)
    found = api_directory.list_contacts(
        api_directory.ContactFilter(asked.q or "", asked.tag or "", asked.locale or ""),
        after,
        asked.limit + 1,
        g.api_key_id,
    )
    shown, cursor = paging.page("contacts", found, asked.limit, filters, lambda c: c.id)
    return jsonify({"items": [contact_view(c) for c in shown], "next_cursor": cursor})


@bp.delete("/contacts/<external_ref>")
@operation("contacts", {200: (Erased, "Erased.")})
def erase_contact(external_ref: str) -> Response:
    """Erase a contact's personal data at once (the privacy pages' erasure); its address is
    kept only as a keyed hash, suppressed, and its consent events stay as the law asks"""
    contact = api_contacts.find_contact(_ref(external_ref))
    requester = privacy.Requester(
        request.remote_addr, request.headers.get("User-Agent"), contact.locale
    )
    done = privacy.erase_now(contact.id, requester, f"api:{g.api_key_id}")
    return jsonify({"external_ref": external_ref, "erased": True, "privacy_request_id": done.id})


def _suppression_view(suppression: Any) -> dict[str, Any]:
    return {
        "id": suppression.id,
        "scope": suppression.scope,
        "reason": suppression.reason,
        "source": (suppression.evidence or {}).get("source"),
        "created_at": iso(suppression.created_at),
    }


@bp.get("/suppressions")
@operation(
    "contacts",
    {200: (SuppressionPage, "A page of suppressions, oldest first.")},
    query=SuppressionQuery,
    state_checked=CURSOR_STATE,
)
def list_suppressions() -> Response:
    """Addresses never mailed again (kept only as keyed hashes), page by page"""
    asked = query(SuppressionQuery)
    after = paging.after_id("suppressions", asked.cursor, {})
    found = api_directory.list_suppressions(after, asked.limit + 1)
    shown, cursor = paging.page("suppressions", found, asked.limit, {}, lambda s: s.id)
    return jsonify({"items": [_suppression_view(s) for s in shown], "next_cursor": cursor})


@bp.post("/suppressions")
@operation(
    "contacts",
    {201: (Suppression, "Suppressed."), 200: (Suppression, "Already suppressed in that scope.")},
    json=SuppressionRequest,
)
def add_suppression() -> tuple[Response, int]:
    """Never mail an address again in a scope (all, advertising or one purpose)"""
    new = body(SuppressionRequest)
    # Two clients suppressing one address at once: the loser's insert fails on the unique
    # (address, scope) and its retry finds the winner's row.
    found, created = api_contacts.retrying(
        lambda: api_directory.add_suppression(
            new.email, new.scope, new.reason, new.note or "", g.api_key_id
        )
    )
    return jsonify(_suppression_view(found)), 201 if created else 200


@bp.delete(f"/suppressions/<int(min=1, max={MAX_ID}):suppression_id>")
@operation("contacts", {200: (Suppression, "Lifted; the audit log keeps it.")}, errors=(409,))
def remove_suppression(suppression_id: int) -> Response:
    """Lift a suppression (not an erased contact's): written to the audit log"""
    view = _suppression_view(api_directory.suppression(suppression_id))
    api_directory.remove_suppression(suppression_id, g.api_key_id)
    return jsonify(view)


@bp.get(f"/campaigns/<int(min=1, max={MAX_ID}):campaign_id>/report")
@operation(
    "campaigns",
    {200: (CampaignReport, "Counts, then each delivery with its failure detail.")},
    query=ReportQuery,
    state_checked=CURSOR_STATE,
)
def campaign_report(campaign_id: int) -> Response:
    """A campaign's report: counts by status and reason, and each delivery page by page"""
    asked = query(ReportQuery)
    filters = {"campaign": campaign_id, "status": asked.status}
    after = paging.after_id("report", asked.cursor, filters)
    report = reports.campaign_report(campaign_id)
    rows = reports.report_rows(campaign_id, after, asked.limit + 1, asked.status or "")
    shown, cursor = paging.page("report", rows, asked.limit, filters, lambda r: r[0].id)
    items = [
        {
            "id": d.id,
            "external_ref": ref,
            "status": str(d.status),
            "reason": d.reason,
            "smtp_code": d.smtp_code,
            "smtp_message": d.smtp_message,
            "attempts": d.attempts,
            "sent_at": iso(d.sent_at),
        }
        for d, ref in shown
    ]
    return jsonify(
        {
            "campaign_id": campaign_id,
            "counters": report.counters,
            "reasons": report.reasons,
            "items": items,
            "next_cursor": cursor,
        }
    )


@bp.get("/templates")
@operation(
    "templates",
    {200: (TemplatePage, "A page of templates, oldest first.")},
    query=TemplateQuery,
    state_checked=CURSOR_STATE,
)
def list_templates() -> Response:
    """Templates, page by page"""
    asked = query(TemplateQuery)
    after = paging.after_id("templates", asked.cursor, {})
    found = templates.list_templates(after, asked.limit + 1)
    shown, cursor = paging.page("templates", found, asked.limit, {}, lambda t: t.id)
    return jsonify({"items": [template_view(t) for t in shown], "next_cursor": cursor})


@bp.post("/templates/from-layout")
@operation(
    "templates",
    {201: (LayoutTemplate, "Saved, with the layout's sample data.")},
    json=LayoutTemplateRequest,
    state_checked=("purpose",),
)
def template_from_layout() -> tuple[Response, int]:
    """A new template copied from a built-in layout (promotion, event, renewal)"""
    new = body(LayoutTemplateRequest)
    template, samples = templates.from_layout(new.layout, new.name, new.purpose)
    return jsonify({"template": template_view(template), "sample_data": samples}), 201


def _detail(key: str) -> dict[str, Any]:
    notice_type, template, fields = notices.notice_type_detail(key)
    view = template_view(template)
    return {
        **notice_type_view(notice_type),
        "template_id": template.id,
        **{k: view[k] for k in ("subject", "body_mjml", "text", "variants")},
        "data_fields": sorted(fields.required),
    }


@bp.get("/notice-types/<string(maxlength=64):key>")
@operation("notices", {200: (NoticeTypeDetail, "The notice type with its template.")})
def get_notice_type(key: str) -> Response:
    """A notice type: its purpose, its template per locale and the data fields it needs"""
    return jsonify(_detail(key))


@bp.put("/notice-types/<string(maxlength=64):key>/template")
@operation(
    "templates",
    {200: (NoticeTypeDetail, "Saved as the template's next version.")},
    json=NoticeTemplateUpdate,
    state_checked=("subject", "body_mjml", "text", "sample_data"),
)
def update_notice_template(key: str) -> Response:
    """Change a notice type's subject, body and text per locale (a new template version)"""
    change = body(NoticeTemplateUpdate)
    notice_type, template, _ = notices.notice_type_detail(key)
    variants = {}
    if change.variants is not None and change.variants.en is not None:
        en = change.variants.en
        variants["en"] = Variant(en.subject, en.body_mjml, en.text)
    data = templates.TemplateInput(
        template.name, template.kind, notice_type.purpose_key, change.subject,
        change.body_mjml, change.text, variants,
    )  # fmt: skip
    templates.save_template(data, template.id, sample_data=change.sample_data)
    return jsonify(_detail(key))


@bp.post("/notice-types/from-layout")
@operation(
    "templates",
    {201: (NoticeTypeCreated, "Created, with its own copy of the layout.")},
    json=NoticeTypeFromLayout,
    errors=(409,),
)
def notice_type_from_layout() -> tuple[Response, int]:
    """Define a notice type with its own copy of a built-in service layout (renewal)"""
    new = body(NoticeTypeFromLayout)
    notice_type, samples = notices.define_from_layout(
        new.key, new.name, new.purpose, new.layout, datetime.now(UTC)
    )
    return jsonify({"notice_type": _detail(notice_type.key), "sample_data": samples}), 201
