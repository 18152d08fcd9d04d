"""The dashboard's rates alarm only on a sample large enough to mean something."""

from __future__ import annotations

from flask.testing import FlaskClient

from notifier.contacts import consent_ledger as consent
from notifier.infra.extensions import db
from notifier.models import ConsentSource, SendLog, StaffUser, utcnow
from notifier.operations.dashboard import MIN_SENT
from tests.integration.helpers import make_contact
from tests.integration.web.admin import test_admin_pages

client = test_admin_pages.client
admin = test_admin_pages.admin


def _mail_and_unsubscribes(sent: int, unsubscribed: int) -> None:
    contact_ids = [
        make_contact(f"k{i}@example.com", grants=("promotions",)) for i in range(unsubscribed)
    ]
    one_click = consent.Evidence(source=ConsentSource.ONE_CLICK)
    for contact_id in contact_ids:
        consent.withdraw(contact_id, ["promotions"], one_click)
    db.session.add_all(
        SendLog(contact_id=contact_ids[0], purpose_key="promotions", advertising=True,
                sent_at=utcnow())
        for _ in range(sent)
    )  # fmt: skip
    db.session.commit()


def _level(page: str, key: str) -> str:
    return page.split(f'data-testid="rate-{key}" data-level="')[1].split('"')[0]


def test_a_fresh_demo_with_few_messages_raises_no_alarm(
    client: FlaskClient, admin: StaffUser
) -> None:
    _mail_and_unsubscribes(sent=40, unsubscribed=8)  # 20 %, as on a fresh demo
    page = client.get("/admin/").get_data(as_text=True)
    assert _level(page, "unsubscribes") == "few"
    assert "Vượt ngưỡng" not in page and "meter-bad" not in page
    assert f"Chưa đủ {MIN_SENT} thư" in page


def test_reports_about_older_mail_with_nothing_sent_raise_no_alarm(
    client: FlaskClient, admin: StaffUser
) -> None:
    _mail_and_unsubscribes(sent=0, unsubscribed=3)  # "3/0 thư"
    page = client.get("/admin/").get_data(as_text=True)
    assert _level(page, "unsubscribes") == "few" and "meter-bad" not in page


def test_the_same_rate_on_enough_mail_still_alarms(client: FlaskClient, admin: StaffUser) -> None:
    _mail_and_unsubscribes(sent=MIN_SENT, unsubscribed=4)  # 2 % >= the 1 % limit
    page = client.get("/admin/").get_data(as_text=True)
    assert _level(page, "unsubscribes") == "bad" and "Vượt ngưỡng" in page
