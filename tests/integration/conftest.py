"""Integration fixtures shared by the pipeline, message and operations tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.conftest import configure
from tests.smtp_server import SmtpTestServer


@pytest.fixture
def smtp(app: Flask) -> Iterator[SmtpTestServer]:
    """A real SMTP server the app sends to, recording every message it accepts."""
    with SmtpTestServer() as server:
        configure(app, SMTP_URL=server.url)
        yield server
