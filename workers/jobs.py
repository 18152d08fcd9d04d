"""RQ job functions: ids in, one service call, nothing else (the service owns the transaction)."""

from __future__ import annotations

from notifier.campaigns import lifecycle as campaigns
from notifier.infra.queues import NOTICES
from notifier.notices import notices
from notifier.processes.worker import serves, stop_requested


def plan_campaign(campaign_id: int) -> int:
    return campaigns.plan(campaign_id)


def send_campaign(campaign_id: int) -> int:
    return campaigns.run_send_job(
        campaign_id, should_stop=stop_requested, serve_notices=serves(NOTICES)
    )


def send_notice(notice_id: int) -> str:
    return notices.send_notice(notice_id)


def send_system_mail(mail_id: int) -> str:
    from notifier.delivery import system_mail

    return system_mail.send(mail_id)


def deliver_webhook(event_id: int) -> str:
    from notifier.notices import webhooks

    return webhooks.deliver(event_id)
