"""RQ job functions: ids in, one service call in one unit of work, nothing else.

The job is the entry point, so it owns the transaction: the unit commits when the call returns,
rolls back when it raises, and only then enqueues what the call asked for. The send paths inside
also commit their claims and outcomes on purpose (notifier/delivery, `checkpoint`)."""

from __future__ import annotations

from notifier.campaigns import lifecycle as campaigns
from notifier.infra.queues import NOTICES
from notifier.infra.unit_of_work import transactional
from notifier.notices import batch as notice_batch
from notifier.notices import notices
from notifier.processes.worker import serves, stop_requested


@transactional
def plan_campaign(campaign_id: int) -> int:
    return campaigns.plan(campaign_id)


@transactional
def send_campaign(campaign_id: int) -> int:
    return campaigns.run_send_job(
        campaign_id, should_stop=stop_requested, serve_notices=serves(NOTICES)
    )


@transactional
def send_notice(notice_id: int) -> str:
    return notices.send_notice(notice_id)


@transactional
def send_notices(notice_ids: list[int]) -> int:
    return len(notice_batch.send_notices(notice_ids))


@transactional
def send_system_mail(mail_id: int) -> str:
    from notifier.delivery import system_mail

    return system_mail.send(mail_id)


@transactional
def deliver_webhook(delivery_id: int) -> str:
    from notifier.webhooks import sending

    return sending.deliver(delivery_id)
