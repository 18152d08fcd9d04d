"""The reminder schedule page of a notice type: staff set the steps, the hour and the pause,
see the reminders of the next 30 days per day, and preview one for any subscription; bad input
gives the form back with what to fix, never a 500; the page needs the permission and CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.domain.reminders import zone_of
from notifier.infra.context import profile
from notifier.models import utcnow
from notifier.notices import reminders
from tests.integration.notices.reminder_steps import customer, hold
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.integration.test_api_support import renewal_type

PAGE = "/admin/notices/types/renewal/reminders"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


@pytest.fixture
def marketing(app: Flask, client: FlaskClient) -> None:
    renewal_type()
    make_staff("tiepthi@example.com", "marketing")
    sign_in(client, "tiepthi@example.com")


def test_staff_set_a_schedule_and_see_it(client: FlaskClient, marketing: None) -> None:
    page = client.get(PAGE).get_data(as_text=True)
    assert "Loại thông báo này chưa có lịch nhắc." in page
    saved = post(client, PAGE, {"steps": "-30, -7, -1, +3", "local_hour": "10", "paused": "on"})
    assert saved.status_code == 302  # type: ignore[attr-defined]
    schedule = reminders.schedule_of("renewal")
    assert schedule is not None and schedule.steps == (-30, -7, -1, 3)
    assert (schedule.local_hour, schedule.paused) == (10, True)
    page = client.get(PAGE + "?lang=en").get_data(as_text=True)
    assert 'value="-30, -7, -1, +3"' in page and "Reminders in the next 30 days" in page


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"steps": "-30, soon", "local_hour": "9"}, "r-steps", "phải là các số ngày nguyên"),
        ({"steps": "-7, -7", "local_hour": "9"}, "r-steps", "có một mốc bị lặp lại"),
        ({"steps": "-400", "local_hour": "9"}, "r-steps", "mỗi mốc phải từ -365 đến 90"),
        ({"steps": "", "local_hour": "9"}, "r-steps", "cần ít nhất một mốc"),
        ({"steps": ",".join(str(-n) for n in range(1, 12)), "local_hour": "9"}, "r-steps",
         "tối đa 10 mốc"),
        ({"steps": "-7", "local_hour": "25"}, "r-local_hour", "phải là một giờ chẵn từ 0 đến 23"),
        ({"steps": "-7", "local_hour": "nine"}, "r-local_hour", "phải là một giờ chẵn"),
        ({"steps": "9" * 5000, "local_hour": "9" * 5000}, "r-steps", "mỗi mốc phải từ"),
    ],
)  # fmt: skip
def test_bad_input_gives_the_form_back_with_what_to_fix(
    client: FlaskClient, marketing: None, form: dict, field: str, words: str
) -> None:
    answer = post(client, PAGE, form)
    page = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert answer.status_code == 422, page[:300]  # type: ignore[attr-defined]
    assert 'data-testid="error-summary"' in page and f'href="#{field}"' in page
    assert f'id="{field}"' in page and 'aria-invalid="true"' in page
    assert words in page
    assert reminders.schedule_of("renewal") is None


def test_the_outlook_counts_reminders_per_day(client: FlaskClient, marketing: None) -> None:
    post(client, PAGE, {"steps": "-7, -1", "local_hour": "9"})
    customer()
    today = utcnow().astimezone(zone_of(profile().default_time_zone)).date()
    hold("D-1", today + timedelta(days=8))
    hold("D-2", today + timedelta(days=8))
    page = client.get(PAGE).get_data(as_text=True)
    day = (today + timedelta(days=1)).isoformat()
    assert f'<time datetime="{day}">{day}</time></td><td>2</td>' in page
    later = (today + timedelta(days=7)).isoformat()
    assert f'<time datetime="{later}">{later}</time></td><td>2</td>' in page


def test_a_preview_shows_the_subscriptions_reminder(client: FlaskClient, marketing: None) -> None:
    post(client, PAGE, {"steps": "-7", "local_hour": "9"})
    customer()
    sub_id = hold("D-1", utcnow().date() + timedelta(days=40))
    page = client.get(f"{PAGE}?subscription={sub_id}&step=-7").get_data(as_text=True)
    assert 'data-testid="preview-subject"' in page and "Hosting Pro" in page
    for bad in ("999999", "abc", "1" * 40):
        missing = client.get(f"{PAGE}?subscription={bad}&step=-7")
        assert missing.status_code == 200
        assert "Không có dịch vụ nào mang mã này." in missing.get_data(as_text=True)


def test_the_page_needs_the_permission_and_a_csrf_token(app: Flask, client: FlaskClient) -> None:
    renewal_type()
    assert client.get(PAGE).status_code == 302  # to the sign-in page
    make_staff("cskh@example.com", "staff_in_charge")
    sign_in(client, "cskh@example.com")
    assert client.get(PAGE).status_code == 403
    assert post(client, PAGE, {"steps": "-7", "local_hour": "9"}).status_code == 403  # type: ignore[attr-defined]


def test_a_missing_csrf_token_changes_nothing(client: FlaskClient, marketing: None) -> None:
    answer = client.post(PAGE, data={"steps": "-7", "local_hour": "9"})
    assert answer.status_code == 400
    assert reminders.schedule_of("renewal") is None


def test_an_unknown_type_is_404(client: FlaskClient, marketing: None) -> None:
    for key in ("nope", "%00", "%0A"):
        assert client.get(f"/admin/notices/types/{key}/reminders").status_code == 404
    assert post(client, "/admin/notices/types/nope/reminders", {"steps": "-7"}).status_code == 404  # type: ignore[attr-defined]
