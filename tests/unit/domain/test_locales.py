"""Which variant of a template a contact reads: theirs, else the Vietnamese one."""

from __future__ import annotations

import pytest

from notifier.domain.locales import variant_locale


@pytest.mark.parametrize(
    ("wanted", "available", "chosen"),
    [
        ("en", ("vi", "en"), "en"),
        ("vi", ("vi", "en"), "vi"),
        ("en", ("vi",), "vi"),  # no English variant: the Vietnamese one, whole
        ("fr", ("vi", "en"), "vi"),  # a locale the product does not speak
        ("", ("vi", "en"), "vi"),
        (None, ("vi", "en"), "vi"),
        ("EN", ("vi", "en"), "vi"),  # locales are stored lower case; nothing else is guessed
    ],
)
def test_the_contacts_locale_chooses_falling_back_to_vietnamese(wanted, available, chosen):
    assert variant_locale(wanted, available) == chosen
