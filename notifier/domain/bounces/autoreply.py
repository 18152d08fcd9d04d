"""Auto-replies (RFC 3834 and the headers and subjects real autoresponders use): ignored."""

from __future__ import annotations

import re
from email.message import Message

from notifier.domain.bounces import mime

AUTO_SUBJECT = re.compile(
    r"^(automatic reply|auto(matic)?[ -]?(reply|response)|autoreply|auto:|out of (the )?office|"
    r"away from (the )?office|on vacation|vacation reply|abwesenheit|réponse automatique|"
    r"respuesta automática|trả lời tự động|vắng mặt|thư trả lời tự động)",
    re.I,
)
FLAG_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autoresponder")


def is_auto_reply(message: Message) -> bool:
    auto = mime.header(message, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return True
    if any(mime.header(message, name) for name in FLAG_HEADERS):
        return True
    if mime.header(message, "Precedence").lower() == "auto_reply":
        return True
    return bool(AUTO_SUBJECT.match(mime.header(message, "Subject")))
