"""DMARC relaxed alignment: which signing or SPF domains may speak for a From domain."""

from __future__ import annotations

import pytest

from notifier.feedback.sender_auth import organisational_domain


@pytest.mark.parametrize(
    ("from_domain", "checked_domain", "aligned"),
    [
        ("example.com", "example.com", True),
        ("example.com", "mail.example.com", True),
        ("news.example.com", "example.com", True),
        ("EXAMPLE.com.", "example.COM", True),
        ("dcnet.com.vn", "mail.dcnet.com.vn", True),
        ("example.com", "evil.example", False),
        ("example.com", "example.com.evil.example", False),
        ("a.com.vn", "b.com.vn", False),  # com.vn is a public suffix: different owners
        ("a.github.io", "b.github.io", False),  # a private suffix on the list
    ],
)
def test_alignment(from_domain: str, checked_domain: str, aligned: bool) -> None:
    same = organisational_domain(from_domain) == organisational_domain(checked_domain)
    assert same is aligned
