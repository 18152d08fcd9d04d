"""An A/B subject test end to end: the sample at a real SMTP server with both subjects, people's
clicks through the real redirect endpoint, the clock moved past the wait, the scheduler's pick
(once, with two rounds at once), the rest with the winner's subject, each contact one message,
and the frequency cap still refusing a person over it."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import time_machine
from flask import Flask
from sqlalchemy import select

from notifier.campaigns import ab_tests, web_view
from notifier.campaigns import lifecycle as campaigns
from notifier.contacts.purposes import sync_purposes
from notifier.domain import ab_test
from notifier.domain.profile import load_profile
from notifier.infra.extensions import db
from notifier.infra.unit_of_work import unit_of_work
from notifier.models import Campaign, Delivery, SendLog
from notifier.processes.scheduler import tick
from tests.integration.helpers import committed, drain, layout_template, make_contact, sample_data
from tests.integration.rsvp_steps import parsed
from tests.integration.test_admin_support import browser, make_staff, post, sign_in
from tests.integration.tracking_steps import html_of, tracked_profile
from tests.smtp_server import SmtpTestServer

T0 = datetime(2027, 5, 4, 2, tzinfo=UTC)  # 09:00 in Hanoi: no quiet hours in the way
WAIT = timedelta(hours=4)
SUBJECT_A, SUBJECT_B = "Ưu đãi tháng Năm cho {{ contact_name }}", "Giảm 20% chỉ hôm nay"
ENGLISH_A, ENGLISH_B = "May offer for {{ contact_name }}", "20% off today only"
CLICK_LINK = re.compile(r'href="https://notifier\.test(/t/c/[A-Za-z0-9_-]+)"')
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def _tracked_contacts(app: Flask, tmp_path: Path, count: int) -> dict[str, int]:
    app.extensions["notifier.profile"] = load_profile(tracked_profile(tmp_path))
    with unit_of_work():
        sync_purposes(app.extensions["notifier.profile"])
    return {
        f"p{i:02d}@example.com": make_contact(
            f"p{i:02d}@example.com", grants=("promotions",), name=f"Khách {i}",
            locale="en" if i % 5 == 0 else "vi",
        )
        for i in range(count)
    }  # fmt: skip


def _ab_campaign(percent: int = 50) -> int:
    settings = ab_tests.parse(
        {"variants": [{"vi": SUBJECT_A, "en": ENGLISH_A}, {"vi": SUBJECT_B, "en": ENGLISH_B}],
         "sample_percent": percent, "wait_hours": 4, "metric": "clicks"}
    )  # fmt: skip
    with committed():
        campaign = campaigns.create_campaign(
            campaigns.CampaignInput(
                name="Thử tiêu đề", kind="promotion", purpose_key="promotions",
                template_id=layout_template("promotion", "promotions"),
                data=sample_data("promotion"), ab_test=settings,
            )
        )  # fmt: skip
        return campaign.id


def _over_the_cap(contact_id: int, at: datetime) -> None:
    """Three advertising emails already in the last 24 hours (other campaigns' send log)."""
    with committed():
        for minutes in (10, 20, 30):
            db.session.add(
                SendLog(contact_id=contact_id, purpose_key="promotions", advertising=True,
                        sent_at=at - timedelta(minutes=minutes))
            )  # fmt: skip


def _round(app: Flask, moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        tick(moment)
        drain(app)


def _subjects(server: SmtpTestServer) -> dict[str, str]:
    found: dict[str, str] = {}
    for message in parsed(server):
        found[str(message["To"]).split("<")[-1].rstrip(">")] = str(message["Subject"])
    return found


def _ledger(campaign_id: int) -> dict[int, tuple[str, int | None, str | None]]:
    db.session.expire_all()
    rows = db.session.execute(
        select(Delivery.contact_id, Delivery.status, Delivery.variant, Delivery.reason).where(
            Delivery.campaign_id == campaign_id
        )
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_two_subjects_a_sample_the_winner_by_clicks_then_the_rest(
    app: Flask, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    people = _tracked_contacts(app, tmp_path, 20)
    by_id = {contact_id: address for address, contact_id in people.items()}
    campaign_id = _ab_campaign()
    # Who the sample is, by the domain's rule: the planning SQL must agree with it.
    expected = ab_test.split(campaign_id, people.values(), 50, 2)
    rest = sorted(set(people.values()) - set(expected))
    capped_in_sample = sorted(expected)[0]
    capped_in_rest = rest[0]
    _over_the_cap(capped_in_sample, T0)
    _over_the_cap(capped_in_rest, T0)

    with time_machine.travel(T0, tick=False), committed():
        campaigns.schedule(campaign_id)
    _round(app, T0)

    # The sample: both subjects, the split the domain computes; the rest held.
    ledger = _ledger(campaign_id)
    assert {c: v for c, (_, v, _) in ledger.items() if v is not None} == expected
    assert Counter(expected.values()) == Counter({1: 5, 2: 5})
    held = {c for c, (s, _, r) in ledger.items() if (s, r) == ("deferred", "ab_test")}
    assert held == set(rest)
    assert ledger[capped_in_sample][0] == "deferred"  # the cap, as for any campaign
    assert ledger[capped_in_sample][2] == "cap_reached"
    subjects = _subjects(smtp)
    sent_sample = {c for c in expected if c != capped_in_sample}
    assert set(subjects) == {by_id[c] for c in sent_sample}
    for contact_id in sent_sample:
        subject, english = (SUBJECT_A, ENGLISH_A) if expected[contact_id] == 1 else (
            SUBJECT_B, ENGLISH_B)  # fmt: skip
        wanted = english if by_id[contact_id].startswith(("p00", "p05", "p10", "p15")) else subject
        wanted = wanted.replace("{{ contact_name }}", f"Khách {int(by_id[contact_id][1:3])}")
        assert subjects[by_id[contact_id]] == f"[QC] {wanted}", by_id[contact_id]

    # Clicks: three people of B through the real redirect endpoint; of A, only a scanner.
    mails = {str(m["To"]).split("<")[-1].rstrip(">"): html_of(m) for m in parsed(smtp)}  # type: dict[str, str]
    b_people = [by_id[c] for c in sorted(sent_sample) if expected[c] == 2][:3]
    a_person = next(by_id[c] for c in sorted(sent_sample) if expected[c] == 1)
    client = app.test_client()
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        for address in b_people:
            link = CLICK_LINK.findall(mails[address])[0]
            for _ in range(2):  # twice: one person still
                assert client.get(link, headers={"User-Agent": PHONE}).status_code == 302
        link = CLICK_LINK.findall(mails[a_person])[0]
        for _ in range(5):
            assert client.get(link, headers={"User-Agent": "curl/8.5"}).status_code == 302

    # A minute before the wait is over: nothing more.
    _round(app, T0 + WAIT - timedelta(minutes=1))
    assert len(smtp.messages) == len(sent_sample)
    assert db.session.get(Campaign, campaign_id).ab_winner is None  # type: ignore[union-attr]

    # Two rounds at once: one pick.
    moment = T0 + WAIT
    start, picks, errors = threading.Barrier(2), [], []

    def round_() -> None:
        with app.app_context(), time_machine.travel(moment, tick=False):
            start.wait()
            try:
                with unit_of_work():
                    picks.append(ab_tests.pick_due(moment))
            except Exception as exc:  # SQLite: the second writer may be told the file is locked
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=round_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(picks) == 1, (picks, errors)
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.ab_winner == 2
    assert campaign.ab_test["reason"] == "highest_rate"
    tallies = {t["variant"]: (t["people"], t["tracked"]) for t in campaign.ab_test["tallies"]}
    assert tallies == {1: (0, 4), 2: (3, 5)} or tallies == {1: (0, 5), 2: (3, 4)}

    # The rest get B's subject, the person over the cap nothing more.
    _round(app, moment)
    _round(app, moment + timedelta(minutes=1))
    ledger = _ledger(campaign_id)
    assert {c: v for c, (_, v, _) in ledger.items() if c in rest} == dict.fromkeys(rest, 2)
    assert ledger[capped_in_rest][0] == "deferred"
    assert ledger[capped_in_rest][2] == "cap_reached"
    received = Counter(address for m in smtp.messages for address in m.rcpt_tos)
    capped = {by_id[capped_in_sample], by_id[capped_in_rest]}
    assert received == Counter({a: 1 for a in people if a not in capped})
    subjects = _subjects(smtp)
    for contact_id in rest:
        if contact_id != capped_in_rest:
            assert "20%" in subjects[by_id[contact_id]]

    # A later pick changes nothing.
    with time_machine.travel(moment + timedelta(hours=1), tick=False), unit_of_work():
        assert ab_tests.pick(campaign_id, moment + timedelta(hours=1)) is False

    # The campaign page: each variant's counts and the winner.
    make_staff("marketing@example.com", "marketing")
    with time_machine.travel(moment + timedelta(hours=1), tick=False):
        staff = browser(app)
        sign_in(staff, "marketing@example.com")
        page = staff.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    section = page[page.index('data-testid="ab-test"') :]
    assert "Giảm 20% chỉ hôm nay" in section
    assert re.search(r'data-testid="ab-winner"[^>]*>\s*B', section)
    assert 'data-testid="ab-people-2">3<' in section


def test_without_tracked_mail_variant_a_is_sent_and_the_reason_recorded(
    app: Flask, smtp: SmtpTestServer
) -> None:
    for i in range(6):  # the shipped profile tracks nobody
        make_contact(f"u{i}@example.com", grants=("promotions",))
    campaign_id = _ab_campaign(percent=10)
    with time_machine.travel(T0, tick=False), committed():
        campaigns.schedule(campaign_id)
    _round(app, T0)
    assert len(smtp.messages) == 2  # ten per cent of six, but one per variant at least
    _round(app, T0 + WAIT)
    _round(app, T0 + WAIT + timedelta(seconds=5))
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None and campaign.ab_winner == 1
    assert campaign.ab_test["reason"] == "no_tracked_mail"
    assert campaign.status == "done"
    assert len(smtp.messages) == 6
    later: list[EmailMessage] = parsed(smtp)[2:]
    assert all(str(m["Subject"]).startswith("[QC] Ưu đãi tháng Năm") for m in later)


WEB_VIEW_LINK = re.compile(r'href="https://notifier\.test(/m/[A-Za-z0-9_-]+)"')


def test_the_web_view_shows_the_subject_each_person_got_and_test_copies_show_every_one(
    app: Flask, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    people = _tracked_contacts(app, tmp_path, 8)
    by_id = {contact_id: address for address, contact_id in people.items()}
    campaign_id = _ab_campaign()
    with time_machine.travel(T0, tick=False), committed():
        campaigns.schedule(campaign_id)
    _round(app, T0)
    variants = {c: v for c, (_, v, _) in _ledger(campaign_id).items() if v is not None}
    assert set(variants.values()) == {1, 2}
    mails = {str(m["To"]).split("<")[-1].rstrip(">"): m for m in parsed(smtp)}
    client = app.test_client()
    for contact_id in variants:
        mail = mails[by_id[contact_id]]
        link = WEB_VIEW_LINK.search(html_of(mail))
        assert link, by_id[contact_id]
        assert client.get(link[1]).status_code == 200
        # The page is rendered by the composer of the subject this person was sent (the
        # layout's body names no subject: its <title> is its own headline).
        shown = web_view.message_page(link[1].rpartition("/")[2])
        assert shown.subject == str(mail["Subject"]), (by_id[contact_id], variants[contact_id])

    # A test copy of each subject, in each language the audience reads (p00 reads English).
    make_staff("marketing@example.com", "marketing")
    smtp.messages.clear()
    staff = browser(app)
    sign_in(staff, "marketing@example.com")
    sent = post(staff, f"/admin/campaigns/{campaign_id}/test", {"to": "marketing@example.com"})
    assert sent.status_code == 302
    subjects = sorted(str(m["Subject"]) for m in parsed(smtp))
    name = "{{ contact_name }}"
    assert len(subjects) == 4
    for text in (SUBJECT_A, SUBJECT_B, ENGLISH_A, ENGLISH_B):
        wanted = text.split(name)[0].strip()
        assert sum(wanted in s and "(thử nghiệm/test)" in s for s in subjects) == 1, subjects
