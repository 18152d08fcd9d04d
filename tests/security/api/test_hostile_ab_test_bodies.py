"""An A/B subject test through the JSON API: a good one is kept and shown, hostile ones are
refused with their field and create nothing."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.infra.extensions import db
from notifier.models import Campaign
from tests.integration import test_api_support as support
from tests.integration.api.test_api_campaigns import new_campaign, new_template
from tests.integration.helpers import sample_data

api, key = support.api, support.key  # fixtures
conforms = support.conforms

GOOD = {
    "variants": [{"vi": "Ưu đãi tháng 6", "en": "June offer"},
                 {"vi": "Giảm 20% hôm nay", "en": "20% off today"}],
    "sample_percent": 20, "wait_hours": 4, "metric": "opens",
}  # fmt: skip


def test_a_good_test_is_kept_and_shown(app: Flask, api: FlaskClient) -> None:
    created = new_campaign(api, ab_test=GOOD)
    assert created["ab_test"]["variants"] == GOOD["variants"]
    assert created["ab_test"]["metric"] == "opens" and created["ab_test"]["winner"] is None
    plain = new_campaign(api)
    assert plain["ab_test"] is None


def _variants(*pairs: tuple[object, object]) -> list[dict]:
    return [{"vi": vi, "en": en} for vi, en in pairs]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"variants": _variants(("Một", "One"))}, "ab_test"),
        ({"variants": _variants(*[(f"T{i}", f"S{i}") for i in range(5)])}, "ab_test"),
        ({"variants": _variants(("", "x"), ("b", "b"))}, "ab_test"),
        ({"variants": _variants(("a\r\nBcc: x@example.com", "x"), ("b", "b"))}, "ab_test"),
        ({"variants": _variants(("a" * 201, "x"), ("b", "b"))}, "ab_test"),
        ({"variants": _variants((1, "x"), ("b", "b"))}, "ab_test"),
        ({"variants": _variants(("Giống", "Same"), ("giống", "same"))}, "ab_test"),
        ({"variants": _variants(("rtl\u202e", "x"), ("b", "b"))}, "ab_test"),
        ({"variants": _variants(("{{ broken", "x"), ("b", "b"))}, "ab_test"),
        ({"sample_percent": 0}, "ab_test"),
        ({"sample_percent": 100}, "ab_test"),
        ({"sample_percent": "20"}, "ab_test"),
        ({"wait_hours": 0}, "ab_test"),
        ({"wait_hours": 1000}, "ab_test"),
        ({"wait_hours": 4.5}, "ab_test"),
        ({"metric": "revenue"}, "ab_test"),
        ({"extra": True}, "ab_test"),
    ],
)
def test_a_hostile_test_is_refused_with_its_field(
    app: Flask, api: FlaskClient, changes: dict, field: str
) -> None:
    body = {
        "name": "Thử", "kind": "promotion", "purpose": "promotions",
        "template_id": new_template(api), "data": sample_data("promotion"),
        "ab_test": {**GOOD, **changes},
    }  # fmt: skip
    response = api.post("/api/v1/campaigns", json=body)
    problem = conforms(response, "post", "/campaigns")
    assert response.status_code == 422, problem
    fields = {e["field"] for e in problem["errors"]}
    assert any(f == field or f.startswith(f"{field}.") for f in fields), problem
    if changes.get("variants") and "{{" in str(changes["variants"]):
        # Which subject: the form's name for it, in the detail.
        assert "subject_1_vi:" in str(problem["errors"]), problem
    assert db.session.scalar(db.select(db.func.count()).select_from(Campaign)) == 0
