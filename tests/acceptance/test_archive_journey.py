"""An operator turns on the public archive of promotions in the profile; a promotion reaches two
customers at the SMTP server; then anyone, signed in to nothing, reads it in the archive with
nobody's data in it. gunicorn, worker and scheduler as separate processes, entered only through
the CLI, the API, HTTP and the SMTP sink (docs/web-view.md, "The public archive")."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import LocalDns, Product, started
from tests.acceptance.journeys import mail_to, wait_until, web_form_consent, with_workers
from tests.acceptance.test_subscriptions_journey import call, key_for, posted
from tests.acceptance.test_web_view_journey import html_of
from tests.acceptance.visitor import Answer
from tests.smtp_server import SmtpTestServer

PROMOTIONS_LIST = 'list_id = "promotions.dcnet.example"'
CUSTOMERS = (
    {"external_ref": "AR-1", "email": "tran.bich@example.com", "name": "Trần Thị Bích",
     "phone": "0903 111 222", "attributes": {"hang": "Kim cương 7731"}},
    {"external_ref": "AR-2", "email": "pham.cuong@example.net", "name": "Phạm Văn Cường",
     "phone": "0904 333 444", "attributes": {"hang": "Bạch kim 4410"}},
)  # fmt: skip
BAD_LINK = "Liên kết không hợp lệ"


def archived_profile(folder: Path) -> Path:
    """What the operator does (docs/web-view.md): dcnet with `public_archive = true` on the
    promotions purpose, and nothing else changed."""
    text = Path("config/profiles/dcnet.toml").read_text(encoding="utf-8")
    assert text.count(PROMOTIONS_LIST) == 1
    path = folder / "archive.toml"
    path.write_text(
        text.replace(PROMOTIONS_LIST, f"{PROMOTIONS_LIST}\npublic_archive = true"),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def product(
    tmp_path: Path, redis_url: str, dns: LocalDns, sink: SmtpTestServer
) -> Iterator[Product]:
    settings = {"NOTIFIER_PROFILE": str(archived_profile(tmp_path))}
    with started(tmp_path, redis_url, dns, sink, settings) as running:
        yield running


def anonymous(product: Product, path: str) -> Answer:
    """A GET with no cookie, no key: status, body, headers, never a redirect followed."""
    url = path if path.startswith("http") else product.base_url + path
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return Answer(answer.status, url, answer.read().decode(), dict(answer.headers))
    except urllib.error.HTTPError as error:
        return Answer(error.code, url, error.read().decode(), dict(error.headers))


def personal_links(mail: object, other: object, base_url: str) -> set[str]:
    """The links of one customer's mail that the other's does not have: the signed ones, and
    the List-Unsubscribe addresses."""
    mine = set(re.findall(r'href="(' + re.escape(base_url) + r'[^"]*)"', html_of(mail)))
    theirs = set(re.findall(r'href="(' + re.escape(base_url) + r'[^"]*)"', html_of(other)))
    unsubscribe = {link.strip(" <>") for link in str(mail["List-Unsubscribe"]).split(",")}  # type: ignore[index]
    return (mine - theirs) | unsubscribe


def send_promotion(product: Product, key: str) -> int:
    """Both customers, then a promotion whose template also prints their tier (an attribute),
    sent through the API and received at the SMTP server; the id of the finished campaign."""
    for customer in CUSTOMERS:
        posted(product, key, "/contacts", {
            **customer, "locale": "vi", "tags": ["archive"],
            "consents": [web_form_consent("promotions")],
        })  # fmt: skip
    layout = {"layout": "promotion", "name": "Khuyến mãi", "purpose": "promotions"}
    copied = posted(product, key, "/templates/from-layout", layout)
    template = copied["template"]
    assert template["body_mjml"].count("</mj-column>") >= 1
    body = template["body_mjml"].replace(
        "</mj-column>", "<mj-text>Hạng thành viên: {{ contact.hang }}</mj-text></mj-column>", 1
    )
    own = posted(product, key, "/templates", {
        "name": "Khuyến mãi có hạng", "kind": "promotion", "purpose": "promotions",
        "subject": template["subject"], "body_mjml": body, "text": template.get("text"),
    })  # fmt: skip
    campaign = posted(product, key, "/campaigns", {
        "name": "Ưu đãi cuối năm", "kind": "promotion", "purpose": "promotions",
        "template_id": own["id"], "data": copied["sample_data"]["vi"],
        "audience": {"tags": ["archive"]},
    })  # fmt: skip
    posted(product, key, f"/campaigns/{campaign['id']}/schedule", status=200)
    return int(campaign["id"])


def test_the_archive_shows_a_sent_promotion_with_nobodys_data(
    product: Product, sink: SmtpTestServer
) -> None:
    profile = product.env["NOTIFIER_PROFILE"]
    assert "purposes" in product.cli("profile", "check", profile)  # the operator's check
    with_workers(product)
    key = key_for(product, "marketing", "contacts", "templates", "campaigns")
    campaign = send_promotion(product, key)

    emails = [customer["email"] for customer in CUSTOMERS]
    wait_until(lambda: all(mail_to(sink, email) for email in emails), "both mails", within=120)
    (first,), (second,) = (mail_to(sink, email) for email in emails)
    for mail, customer in ((first, CUSTOMERS[0]), (second, CUSTOMERS[1])):
        received = html_of(mail)
        assert customer["name"] in received and customer["attributes"]["hang"] in received  # type: ignore[index]
    wait_until(
        lambda: call(product, key, "GET", f"/campaigns/{campaign}")[1]["status"] == "done",
        "the campaign finished",
    )

    listing = anonymous(product, "/archive/promotions")
    assert listing.status == 200, listing.body
    assert "Ưu đãi cuối năm" in listing.body
    links = re.findall(r'href="(/archive/promotions/\d+)[^"]*"', listing.body)
    assert links == [f"/archive/promotions/{campaign}"], listing.body

    page = anonymous(product, links[0])
    assert page.status == 200, page.body
    assert "Nguyễn Văn An" in page.body and "[hang]" in page.body  # the sample person
    headline = copied_headline(first)
    assert headline in page.body  # the campaign's own content
    secrets = [
        *(str(customer[field]) for customer in CUSTOMERS for field in ("name", "email", "phone")),
        *(customer["attributes"]["hang"] for customer in CUSTOMERS),  # type: ignore[index]
        *personal_links(first, second, product.base_url),
        *personal_links(second, first, product.base_url),
        *(link.rpartition("/")[2] for link in personal_links(first, second, product.base_url)),
    ]
    leaked = [secret for secret in secrets if secret and secret in page.body + listing.body]
    assert not leaked, leaked
    signed = re.escape(product.base_url) + r"/(m|u|p|e|t/c|t/o)/[A-Za-z0-9_-]{16}"
    assert not re.search(signed, page.body)
    headers = {name.lower(): value for name, value in page.headers.items()}
    assert "script-src" not in headers["content-security-policy"]

    english = anonymous(product, f"{links[0]}?lang=en")
    assert english.status == 200 and not any(s in english.body for s in secrets if s)

    # A purpose without the archive, a service purpose, and hostile addresses: the product's
    # "link does not work" page, never a campaign, never a stack trace.
    draft = posted(product, key, "/campaigns", {
        "name": "Chưa gửi", "kind": "promotion", "purpose": "promotions",
        "template_id": product_template(product, key, campaign), "data": {},
        "audience": {"tags": ["archive"]},
    })["id"]  # fmt: skip
    hostile = [
        "/archive/events",
        "/archive/renewal",
        f"/archive/events/{campaign}",
        f"/archive/renewal/{campaign}",
        f"/archive/PROMOTIONS/{campaign}",
        f"/archive/promotions/{draft}",
        "/archive/promotions/0",
        "/archive/promotions/999999",
        "/archive/promotions/99999999999999999999999999",
        "/archive/promotions/-1",
        "/archive/promotions/abc",
        f"/archive/promotions/{campaign}.0",
        f"/archive/promotions/{campaign}/..%2F..%2Fadmin",
        "/archive/promotions%2F..%2Fadmin",
        "/archive/%2e%2e/admin",
        "/archive/promotions%00",
        f"/archive/promotions/{campaign}%00",
        "/archive/nope'%22%3E%3Cscript%3E",
    ]
    for path in hostile:
        answer = anonymous(product, path)
        assert answer.status == 404, (path, answer.status, answer.body[:300])
        assert BAD_LINK in answer.body, (path, answer.body[:300])
        assert "Traceback" not in answer.body and "Ưu đãi cuối năm" not in answer.body, path


def copied_headline(mail: object) -> str:
    """The promotion's own headline, read from the mail (the layout's sample data)."""
    found = re.search(r"<title>([^<]{6,})</title>", html_of(mail))
    assert found, html_of(mail)
    return found[1]


def product_template(product: Product, key: str, campaign: int) -> int:
    """The template the sent campaign used, for a second campaign that is never scheduled."""
    status, answer = call(product, key, "GET", f"/campaigns/{campaign}")
    assert status == 200, answer
    return int(answer["template_id"])
