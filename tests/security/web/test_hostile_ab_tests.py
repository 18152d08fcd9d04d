"""The new-campaign form's A/B subject test under hostile input: each refusal names the field in
the staff member's language, and nothing is saved."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.domain import ab_test
from notifier.infra.extensions import db
from notifier.models import Campaign
from tests.integration.helpers import layout_template, sample_data
from tests.integration.test_admin_support import browser, make_staff, post, sign_in

GOOD = {
    "ab_enabled": "y",
    "ab_subject_1_vi": "Ưu đãi tháng 6",
    "ab_subject_1_en": "June offer",
    "ab_subject_2_vi": "Giảm 20% hôm nay",
    "ab_subject_2_en": "20% off today",
    "ab_sample_percent": "20",
    "ab_wait_hours": "4",
    "ab_metric": "clicks",
}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = browser(app)
    make_staff("marketing@example.com", "marketing")
    sign_in(client, "marketing@example.com")
    return client


def _create(client: FlaskClient, lang: str = "vi", **fields: str) -> object:
    form = {
        "name": "Thử tiêu đề",
        "kind": "promotion",
        "purpose_key": "promotions",
        "template_id": str(layout_template("promotion", "promotions")),
        "time_zone": "Asia/Ho_Chi_Minh",
        "data": json.dumps(sample_data("promotion")),
        **GOOD,
        **fields,
    }
    return post(client, f"/admin/campaigns/new?lang={lang}", form)


def _campaigns() -> int:
    return int(db.session.scalar(db.select(db.func.count()).select_from(Campaign)) or 0)


def test_a_good_test_is_kept_on_the_campaign(client: FlaskClient) -> None:
    answer = _create(client, ab_subject_3_vi="Chỉ hôm nay", ab_subject_3_en="Today only")
    assert answer.status_code == 302  # type: ignore[attr-defined]
    campaign = db.session.scalars(db.select(Campaign)).one()
    settings = ab_test.settings_of(campaign.ab_test)
    assert settings is not None
    assert [vi for vi, _ in settings.subjects] == ["Ưu đãi tháng 6", "Giảm 20% hôm nay",
                                                   "Chỉ hôm nay"]  # fmt: skip
    assert (settings.sample_percent, settings.wait_hours, settings.metric) == (20, 4, "clicks")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'data-testid="ab-test"' in page and "Giảm 20% hôm nay" in page


def test_unticked_the_fields_are_ignored(client: FlaskClient) -> None:
    answer = _create(client, ab_enabled="", ab_subject_1_vi="")
    assert answer.status_code == 302  # type: ignore[attr-defined]
    assert db.session.scalars(db.select(Campaign)).one().ab_test is None


FIVE = {
    f"ab_subject_{n}_{lang}": f"Tiêu đề {n} {lang}" for n in range(1, 6) for lang in ("vi", "en")
}


@pytest.mark.parametrize(
    ("fields", "vi", "en"),
    [
        ({"ab_subject_1_vi": ""}, "Tiêu đề A (tiếng Việt): bắt buộc phải nhập",
         "Subject A (Vietnamese)"),
        ({"ab_subject_2_vi": "", "ab_subject_2_en": ""}, "cần từ 2 đến 4 tiêu đề",
         "needs 2 to 4 subjects"),
        (FIVE, "cần từ 2 đến 4 tiêu đề", "needs 2 to 4 subjects"),
        ({"ab_subject_2_en": "x" * 201}, "Tiêu đề B (tiếng Anh)", "longer than 200"),
        ({"ab_subject_1_vi": "Ưu đãi\r\nBcc: all@example.com"}, "Tiêu đề A (tiếng Việt)",
         "Subject A (Vietnamese)"),
        ({"ab_subject_1_vi": "a\x00b"}, "Tiêu đề A (tiếng Việt)", "Subject A (Vietnamese)"),
        ({"ab_subject_2_vi": "Ưu đãi tháng 6"}, "các tiêu đề phải khác nhau",
         "the subjects must differ"),
        ({"ab_subject_1_vi": "{{ broken"}, "Tiêu đề A (tiếng Việt)", "Subject A (Vietnamese)"),
        ({"ab_sample_percent": "0"}, "phải là số nguyên từ 10 đến 50",
         "must be a whole number from 10 to 50"),
        ({"ab_sample_percent": "100"}, "Phần thử (% người nhận)", "Sample (% of the audience)"),
        ({"ab_sample_percent": "<script>alert(1)</script>"}, "Phần thử", "Sample"),
        ({"ab_wait_hours": "0"}, "phải là số nguyên từ 1 đến 72",
         "must be a whole number from 1 to 72"),
        ({"ab_wait_hours": "1000"}, "Chờ trước khi chọn (giờ)", "Wait before picking (hours)"),
        ({"ab_wait_hours": "-3"}, "Chờ trước khi chọn", "Wait before picking"),
        ({"ab_metric": "revenue"}, "Chọn theo", "Pick by"),
    ],
)  # fmt: skip
def test_hostile_settings_are_refused_in_both_languages_and_nothing_is_saved(
    client: FlaskClient, fields: dict[str, str], vi: str, en: str
) -> None:
    for lang, wanted in (("vi", vi), ("en", en)):
        answer = _create(client, lang=lang, **fields)
        text = answer.get_data(as_text=True)  # type: ignore[attr-defined]
        assert answer.status_code == 422, lang  # type: ignore[attr-defined]
        assert wanted in text, (lang, wanted)
        assert "<script>alert(1)</script>" not in text
        assert "Bcc: all@example.com\n" not in text
    assert _campaigns() == 0


def test_an_ab_campaign_cannot_be_sent_in_each_recipients_zone(client: FlaskClient) -> None:
    answer = _create(client)
    campaign_id = int(answer.headers["Location"].rsplit("/", 1)[1])  # type: ignore[attr-defined]
    refused = post(
        client,
        f"/admin/campaigns/{campaign_id}/schedule",
        {"when": "later", "send_at": "2030-03-28T09:00", "recipient_zone": "y", "confirm": "y"},
    )
    shown = client.get(refused.headers["Location"]).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "không theo múi giờ người nhận" in shown
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.status == "draft"
