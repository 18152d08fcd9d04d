"""Steps several journeys share: sign in as staff, run a campaign, read what reached the sink."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pyotp

from tests.acceptance.conftest import Product
from tests.acceptance.visitor import Answer, Visitor
from tests.smtp_server import SmtpTestServer

WITHIN = 60.0
# The demo contacts who granted promotions and may get them (demo.py: web_all, web_first, hotline,
# objected - who refused only service mail); ngan.ly is web_all but on the suppression list.
PROMOTIONS = {
    "lan.nguyen@example.com", "minh.tran@example.com", "hoanganh.le@example.net",
    "bao.dang@example.net", "nhung.bui@example.com", "huong.ngo@example.org",
    "ngoc.trinh@example.com", "vinh.ta@example.net", "tam.ho@example.com",
    "yen.vo@example.org", "huy.phan@example.com", "lienhe@kientrucxanh.example.com",
    "john.miller@example.com", "sarah.nguyen@example.net",
}  # fmt: skip


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def mail_to(sink: SmtpTestServer, address: str, since: int = 0) -> list[EmailMessage]:
    return [parse(m.data) for m in sink.messages[since:] if address in m.rcpt_tos]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def wait_until(check: object, what: str, within: float = WITHIN) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        time.sleep(0.2)


def with_workers(product: Product) -> Product:
    """A worker and a scheduler beside the web, as in production: mail goes out on its own."""
    product.start("worker")
    product.start("scheduler", "--interval", "1")
    return product


def staff_session(product: Product, email: str, role: str = "admin") -> Visitor:
    """`notifier staff create` prints the password once; sign in with it through the login form."""
    created = product.cli("staff", "create", email, "--role", role, "--name", "Nguyễn Thu Hà")
    found = re.search(r"password: (\S+)", created)
    assert found, created
    visitor = Visitor(product.base_url)
    signed_in = visitor.submit(
        visitor.get("/admin/login"), "/admin/login", {"email": email, "password": found[1]}
    )
    if signed_in.url.endswith("/admin/two-factor/enrol"):
        # A role that requires a second factor enrols at first sign-in, as a person does by typing
        # the shown key into an authenticator app instead of scanning the QR code.
        key = re.search(r'data-testid="totp-secret">([^<]+)<', signed_in.body)
        assert key, signed_in.body[:2000]
        code = pyotp.TOTP(key[1].replace(" ", "")).now()
        enrolled = visitor.submit(signed_in, "/admin/two-factor/enrol", {"code": code})
        assert enrolled.status == 200, enrolled.body[:2000]
        signed_in = visitor.get("/admin/")
    assert signed_in.status == 200 and signed_in.url.endswith("/admin/"), signed_in.body[:2000]
    return visitor


def create_template(
    staff: Visitor, name: str, layout: str = "promotion", purpose: str | None = None
) -> int:
    """A built-in layout saved unchanged but for its name (and purpose), as the editor offers it."""
    editor = staff.get(f"/admin/templates/new?layout={layout}")
    assert editor.status == 200, editor.body[:2000]
    changes = {"name": name, **({"purpose_key": purpose} if purpose else {})}
    saved = staff.submit(editor, "/admin/templates/new", changes)
    found = re.search(r"/admin/templates/(\d+)$", saved.url)
    assert saved.status == 200 and found, (saved.status, saved.url, saved.body[:3000])
    return int(found[1])


def create_campaign(
    staff: Visitor,
    name: str,
    template_name: str,
    kind: str = "promotion",
    purpose: str = "promotions",
    **extra: str,
) -> tuple[int, Answer]:
    form = staff.get("/admin/campaigns/new")
    option = re.search(r'<option value="(\d+)"[^>]*>' + re.escape(template_name), form.body)
    assert option, form.body[:3000]
    fields = {"name": name, "kind": kind, "purpose_key": purpose, "template_id": option[1], **extra}
    if kind != "promotion":
        # Choosing another kind makes the page fetch that kind's sample data (htmx) into the form.
        sample = staff.get(f"/admin/campaigns/sample-data?kind={kind}")
        fields["data"] = html.unescape(sample.body)
    created = staff.submit(form, "/admin/campaigns/new", fields)
    found = re.search(r"/admin/campaigns/(\d+)$", created.url)
    problems = re.findall(r'class="flash error"[^>]*>([^<]+)<', created.body)
    assert created.status == 200 and found, (created.status, created.url, problems)
    return int(found[1]), created


def schedule_now(staff: Visitor, campaign: int, review: Answer) -> Answer:
    scheduled = staff.submit(
        review, f"/admin/campaigns/{campaign}/schedule", {"when": "now", "confirm": "y"}
    )
    assert "Đã lên lịch chiến dịch." in scheduled.body, scheduled.body[:3000]
    return scheduled


def run_campaign(product: Product, staff: Visitor, name: str) -> int:
    """Template, campaign and schedule through the admin pages; the caller waits for the mail."""
    template = f"Mẫu {name}"
    create_template(staff, template)
    campaign, review = create_campaign(staff, name, template)
    schedule_now(staff, campaign, review)
    return campaign


def campaign_done(staff: Visitor, campaign: int) -> bool:
    progress = staff.get(f"/admin/campaigns/{campaign}/progress").body
    return 'data-testid="percent">100%' in progress or "100%" in progress


def web_form_consent(purpose: str) -> dict[str, object]:
    """A grant as the API takes it, with the evidence of a web form filled in a month ago."""
    collected = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    evidence = {"source": "web_form", "notice_version": "1", "collected_at": collected,
                "ip": "203.0.113.7"}  # fmt: skip
    return {"purpose": purpose, "action": "grant", "evidence": evidence}
