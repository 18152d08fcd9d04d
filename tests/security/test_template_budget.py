"""Issue #13 item 7: a hostile staff template fails as a template error and stalls nobody else."""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notifier.extensions import db
from notifier.models import Template
from tests.integration.test_admin_support import browser, make_staff, post, sign_in

NESTED = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}"
NESTED_CAPPED = "{% for a in range(9000) %}{% for b in range(9000) %}x{% endfor %}{% endfor %}"
HOSTILE = [
    NESTED,
    NESTED_CAPPED,
    "{% for a in 'x' * 90000 %}{% for b in 'y' * 90000 %}{% endfor %}{% endfor %}",
    "{{ 'x'|center(20000000) }}",
    "{{ '%20000000s'|format('x') }}",
    "{{ '%20000000s' % 'x' }}",
    "{{ '{:>20000000}'.format(1) }}",
    "{{ 'x'.ljust(20000000) }}",
    "{{ ('x' * 90000)|replace('x', 'x' * 1000) }}",
    "{{ ('x' * 90000).replace('x', 'x' * 1000) }}",
    "{{ (['x' * 90000] * 1000)|join }}",
    "{{ ''.join(['x' * 90000] * 1000) }}",
    "{{ ('x\n' * 45000)|indent(90000) }}",
    "{{ [1]|batch(100000000, 'x')|list }}",
]
MJML = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>{}</mj-text></mj-column></mj-section>"
    "</mj-body></mjml>"
)


def _form(body: str) -> dict[str, str]:
    return {
        "name": "Hostile", "kind": "promotion", "purpose_key": "promotions",
        "subject": "Ưu đãi", "body_mjml": MJML.format(body), "text": "", "sample_locale": "vi",
    }  # fmt: skip


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return browser(app)


@pytest.fixture
def marketing(client: FlaskClient) -> None:
    make_staff("mkt@example.com", "marketing")
    sign_in(client, "mkt@example.com")


@pytest.mark.parametrize("body", HOSTILE)
def test_a_hostile_preview_is_a_template_error_within_the_budget(
    client: FlaskClient, marketing: None, body: str
) -> None:
    started = time.monotonic()
    response = post(client, "/admin/templates/preview", _form(body))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:300]
    assert "error-box" in page or "template-error" in page, page[:500]
    assert re.search(r"CPU|characters|larger than|range\(\)|million", page), page[:800]
    assert len(page) < 200_000
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("body", [NESTED, "{{ 'x'|center(20000000) }}"])
def test_a_hostile_template_is_not_saved(client: FlaskClient, marketing: None, body: str) -> None:
    response = post(client, "/admin/templates/new", _form(body))
    assert response.status_code == 422
    assert db.session.scalar(db.select(db.func.count()).select_from(Template)) == 0


def test_ordinary_templates_still_render(client: FlaskClient, marketing: None) -> None:
    body = (
        "{% for i in range(3) %}{{ i }}{% endfor %} {{ 'Ưu đãi %s' % '50%' }} {{ 'a'|center(9) }}"
    )
    page = post(client, "/admin/templates/preview", _form(body)).get_data(as_text=True)
    assert "012" in page and "Ưu đãi 50%" in page
