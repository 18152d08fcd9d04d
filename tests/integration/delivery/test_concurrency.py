"""Several worker processes on one campaign: nobody twice, the 24 h cap across all of them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from flask import Flask

from notifier.campaigns import lifecycle as campaigns
from notifier.contacts import consent_ledger as consent
from notifier.contacts import contacts
from notifier.infra.context import profile
from notifier.models import ConsentSource
from tests.integration.helpers import committed, start_campaign
from tests.integration.workers import start_workers, wait_all
from tests.smtp_server import SmtpTestServer


def consented(count: int, purposes: tuple[str, ...]) -> list[str]:
    """Contacts granted through the real service, with web-form evidence."""
    addresses = []
    for i in range(count):
        contact, _ = contacts.stage_contact({"email": f"person{i}@example.com"})
        for key in purposes:
            version = profile().purpose(key).notice_version
            evidence = consent.Evidence(ConsentSource.WEB_FORM, notice_version=version, ip="::1")
            consent.append_grant(contact, key, evidence)
        addresses.append(contact.email or "")
    from notifier.infra.extensions import db

    db.session.commit()
    return addresses


def received(server: SmtpTestServer) -> Counter[str]:
    return Counter(rcpt for message in server.messages for rcpt in message.rcpt_tos)


def test_two_worker_processes_send_each_message_once(
    app: Flask, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    addresses = consented(240, ("promotions",))
    campaign_id = start_campaign("promotion", "promotions")
    with committed():
        campaigns.plan(campaign_id)  # enqueues several send jobs for the workers to share
    wait_all(start_workers(app, tmp_path, 2, BATCH_SIZE="20"))

    assert received(smtp) == Counter({address: 1 for address in addresses})
    assert campaigns.counters(campaign_id) == {"sent": 240}


@pytest.mark.parametrize("profile_name", ["caycanhhoanggia"])
def test_the_cap_holds_across_concurrent_workers(
    app: Flask, smtp: SmtpTestServer, tmp_path: Path
) -> None:
    purposes = ("product_info", "customer_care", "customer_care", "project_publicity")
    addresses = consented(40, tuple(set(purposes)))
    campaign_ids = [start_campaign("promotion", purpose) for purpose in purposes]
    for campaign_id in campaign_ids:
        with committed():
            campaigns.plan(campaign_id)
    wait_all(start_workers(app, tmp_path, 3, BATCH_SIZE="7"))

    assert received(smtp) == Counter({address: 3 for address in addresses})
    totals: Counter[str] = Counter()
    for campaign_id in campaign_ids:
        totals.update(campaigns.counters(campaign_id))
    assert totals == Counter({"sent": 120, "deferred": 40})
