"""The data model; entry points commit it, through notifier/infra/unit_of_work.py."""

from notifier.models.consent import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    Purpose,
)
from notifier.models.contacts import Contact, ContactTag, NoticeText, Suppression, SuppressionReason
from notifier.models.sending import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    NoticeType,
    SendLog,
    Template,
    TemplateVersion,
)
from notifier.models.staff import ApiKey, AuditEntry, OutboxMessage, PrivacyRequest, StaffUser
from notifier.models.types import UTCDateTime, utcnow

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Campaign",
    "CampaignKind",
    "CampaignStatus",
    "ConsentAction",
    "ConsentEvent",
    "ConsentSource",
    "ConsentState",
    "Contact",
    "ContactTag",
    "Delivery",
    "DeliveryStatus",
    "Notice",
    "NoticeStatus",
    "NoticeText",
    "NoticeType",
    "OutboxMessage",
    "PrivacyRequest",
    "Purpose",
    "SendLog",
    "StaffUser",
    "Suppression",
    "SuppressionReason",
    "Template",
    "TemplateVersion",
    "UTCDateTime",
    "utcnow",
]

from notifier.models.privacy_extra import (
    PrivacyRequestKind,
    PrivacyRequestStatus,
    RetentionNotice,
    RetentionNoticeStatus,
    SystemMail,
    SystemMailKind,
    SystemMailStatus,
)

__all__ += [
    "PrivacyRequestKind",
    "PrivacyRequestStatus",
    "RetentionNotice",
    "RetentionNoticeStatus",
    "SystemMail",
    "SystemMailKind",
    "SystemMailStatus",
]

from notifier.models.webhooks import (  # noqa: E402
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookStatus,
)

__all__ += ["WebhookDelivery", "WebhookEndpoint", "WebhookEvent", "WebhookStatus"]

from notifier.models.bounces import BounceScore, MailFeedback  # noqa: E402

__all__ += ["BounceScore", "MailFeedback"]

from notifier.models.subscriptions import (  # noqa: E402
    Reminder,
    ReminderSchedule,
    ReminderStatus,
    Subscription,
)

__all__ += ["Reminder", "ReminderSchedule", "ReminderStatus", "Subscription"]
from notifier.models.segments import Segment  # noqa: E402

__all__ += ["Segment"]
from notifier.models.rsvps import Rsvp  # noqa: E402

__all__ += ["Rsvp"]
from notifier.models.tracking import (  # noqa: E402
    TrackingDaily,
    TrackingEvent,
    TrackingFold,
    TrackingPerson,
    TrackingTally,
)

__all__ += ["TrackingDaily", "TrackingEvent", "TrackingFold", "TrackingPerson", "TrackingTally"]
