"""Saved segments: list, build (a plain form: rows of conditions in groups), live count, save.

The builder works without JavaScript: "add a condition", "add a group" and "remove" are submit
buttons that redraw the form with what was typed; htmx only refreshes the count as one types.
The rows become a tree of two levels (the top group of groups of conditions), which
domain.segments.parse then judges like any other hostile input.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from notifier.campaigns import audience
from notifier.campaigns import segments as saved
from notifier.domain import segments
from notifier.domain.errors import ValidationFailed
from notifier.domain.subscriptions import KINDS as SUBSCRIPTION_KINDS
from notifier.i18n import current_locale, translate
from notifier.infra.context import profile, settings
from notifier.web.admin.blueprint import bp
from notifier.web.admin.forms import ActionForm
from notifier.web.admin.guard import flash_errors, requires

MAX_ROWS = segments.MAX_CONDITIONS  # more rows than conditions allowed are refused unread
MAX_GROUPS = 10
MAX_FORM_FIELDS = 600
ALL_OPS = sorted(
    {op for f in segments.FIELDS for t in segments.TYPES for op in segments.ops_for(f, t)}
)  # every row is seven fields; a post with more is not a builder's


def _empty_row(group: int = 1) -> dict[str, str]:
    return {"group": str(group), "field": "", "key": "", "type": "text", "op": "eq", "value": ""}


def _rows(form: MultiDict[str, str]) -> tuple[str, dict[int, str], list[dict[str, str]]]:
    """The builder's fields: the top match, each group's match, and the condition rows."""
    if len(form) > MAX_FORM_FIELDS:
        raise ValidationFailed({"definition": f"at most {segments.MAX_CONDITIONS} conditions"})
    count = _int(form.get("rows"), 0)
    if count > MAX_ROWS:
        raise ValidationFailed({"definition": f"at most {segments.MAX_CONDITIONS} conditions"})
    rows = []
    for i in range(count):
        rows.append(
            {
                name: str(form.get(f"{name}_{i}", ""))[: segments.MAX_TEXT + 1]
                for name in ("group", "field", "key", "type", "op", "value")
            }
        )
    groups = {g: str(form.get(f"match_{g}", "all")) for g in range(1, MAX_GROUPS + 1)}
    return str(form.get("match", "all")), groups, rows


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def tree_from_rows(match: str, groups: dict[int, str], rows: list[dict[str, str]]) -> Any:
    """JSON-shaped, not yet judged: rows without a field are the builder's blank lines."""
    items: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if not row["field"]:
            continue
        group = _int(row["group"], 1)
        condition: dict[str, Any] = {"field": row["field"], "op": row["op"]}
        if row["field"] == "attribute":
            condition["type"] = row["type"]
        if row["field"] in ("attribute", "consent", "subscription"):
            condition["key"] = row["key"]
        if row["op"] not in ("is_set", "active"):  # the ops that take no value
            condition["value"] = row["value"]
        items.setdefault(group, []).append(condition)
    return {
        "match": match,
        "items": [
            {"match": groups.get(g, "all"), "items": conditions}
            for g, conditions in sorted(items.items())
        ],
    }


def rows_from_tree(definition: Any) -> tuple[str, dict[int, str], list[dict[str, str]]]:
    """The stored tree back into rows: each top-level item a group (a lone condition, its own)."""
    groups: dict[int, str] = {}
    rows: list[dict[str, str]] = []
    for number, item in enumerate(definition.get("items", []), start=1):
        inner = item if "items" in item else {"match": "all", "items": [item]}
        groups[number] = str(inner["match"])
        for condition in inner["items"]:
            if "items" in condition:
                continue  # deeper trees are not the builder's: it keeps two levels
            rows.append(
                {
                    "group": str(number),
                    "field": condition.get("field", ""),
                    "key": condition.get("key", ""),
                    "type": condition.get("type", "text"),
                    "op": condition.get("op", "eq"),
                    "value": str(condition.get("value", "")),
                }
            )
    return definition.get("match", "all"), groups, rows


@bp.get("/segments")
@requires("campaigns.view")
def segments_list() -> str:
    return render_template("admin/segments/list.html", rows=saved.list_segments())


@bp.route("/segments/new", methods=["GET", "POST"])
@requires("campaigns.manage")
def segment_new() -> str | Response:
    return _builder(None)


@bp.route("/segments/<int:segment_id>", methods=["GET", "POST"])
@requires("campaigns.manage")
def segment_edit(segment_id: int) -> str | Response:
    return _builder(segment_id)


def _builder(segment_id: int | None) -> str | Response:
    form = ActionForm()
    name = description = ""
    if request.method == "GET":
        if segment_id is None:
            match, groups, rows = "all", {1: "all"}, [_empty_row()]
        else:
            segment = saved.get_segment(segment_id)
            name, description = segment.name, segment.description
            match, groups, rows = rows_from_tree(segment.definition)
        return _page(segment_id, name, description, match, groups, rows, None)
    if not form.validate_on_submit():
        abort(400)
    name, description = request.form.get("name", ""), request.form.get("description", "")
    try:
        match, groups, rows = _rows(request.form)
    except ValidationFailed as exc:
        flash_errors(exc)
        return _page(segment_id, name, description, "all", {1: "all"}, [_empty_row()], None, 422)
    action = request.form.get("action", "save")
    if action == "add_row" and len(rows) < MAX_ROWS:
        last = _int(rows[-1]["group"], 1) if rows else 1
        rows.append(_empty_row(last))
    elif action == "add_group" and len(rows) < MAX_ROWS:
        used = {_int(r["group"], 1) for r in rows} or {0}
        rows.append(_empty_row(min(max(used) + 1, MAX_GROUPS)))
    elif action.startswith("remove_"):
        index = _int(action.removeprefix("remove_"), -1)
        rows = [row for i, row in enumerate(rows) if i != index] or [_empty_row()]
    elif action == "save":
        try:
            segment = saved.save_segment(
                saved.SegmentInput(name, tree_from_rows(match, groups, rows), description),
                staff_id=current_user.id,
                segment_id=segment_id,
            )
        except ValidationFailed as exc:
            flash_errors(exc)
            return _page(segment_id, name, description, match, groups, rows, exc.errors, 422)
        flash(translate("segment_saved"), "success")
        return redirect(url_for("admin.segment_edit", segment_id=segment.id))
    return _page(segment_id, name, description, match, groups, rows, None)


def _page(
    segment_id: int | None,
    name: str,
    description: str,
    match: str,
    groups: dict[int, str],
    rows: list[dict[str, str]],
    errors: dict[str, str] | None,
    status: int = 200,
) -> Any:
    purpose_key = request.form.get("purpose_key") or profile().purposes[0].key
    return render_template(
        "admin/segments/builder.html",
        form=ActionForm(),
        segment_id=segment_id,
        name=name,
        description=description,
        match=match,
        groups=groups,
        rows=rows,
        errors=errors or {},
        fields=segments.FIELDS,
        types=segments.TYPES,
        ops=ALL_OPS,
        purposes=[(p.key, p.name.get(current_locale())) for p in profile().purposes],
        subscription_kinds=SUBSCRIPTION_KINDS,
        purpose_key=purpose_key,
        retention_days=settings().TRACKING_RETENTION_DAYS,
        count=_count(purpose_key, match, groups, rows),
        definition=json.dumps(tree_from_rows(match, groups, rows), ensure_ascii=False),
    ), status


@bp.post("/segments/count")
@requires("campaigns.manage")
def segment_count() -> str:
    try:
        match, groups, rows = _rows(request.form)
    except ValidationFailed:
        match, groups, rows = "all", {}, []
    purpose_key = request.form.get("purpose_key") or profile().purposes[0].key
    return render_template(
        "admin/segments/_count.html", count=_count(purpose_key, match, groups, rows)
    )


def _count(
    purpose_key: str, match: str, groups: dict[int, str], rows: list[dict[str, str]]
) -> dict[str, Any]:
    """The breakdown for the purpose, or the problems that keep the tree from counting."""
    if purpose_key not in {p.key for p in profile().purposes}:
        return {"problems": {"purpose_key": "unknown purpose"}}
    try:
        tree = saved.parse(tree_from_rows(match, groups, rows))
    except ValidationFailed as exc:
        return {"problems": exc.errors}
    return {"breakdown": audience.breakdown(purpose_key, {}, tree), "total": saved.count_all(tree)}
