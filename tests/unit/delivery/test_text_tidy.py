"""The text part's tidying: trailing blanks go, runs of blank lines become one."""

import random
import re

import pytest

from notifier.delivery.rendering.text import tidy


def by_the_rule(text: str) -> str:
    """The rule written plainly: what tidy's fast path must always equal."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


@pytest.mark.parametrize(
    ("text", "tidied"),
    [
        ("Chào anh,   \n\n\n\nƯu đãi\t\n", "Chào anh,\n\nƯu đãi\n"),
        ("clean\n\ntext", "clean\n\ntext\n"),
        ("", "\n"),
        (" \t \n\n\n \n", "\n"),
    ],
)
def test_tidy(text: str, tidied: str) -> None:
    assert tidy(text) == tidied


def test_the_fast_path_equals_the_rule_on_random_texts() -> None:
    pieces = ["a", "ă", " ", "\t", "\n", "\n\n\n", " \n", "b ", "\t\n\n"]
    draw = random.Random(20261206)
    for _ in range(20_000):
        text = "".join(draw.choice(pieces) for _ in range(draw.randint(0, 24)))
        assert tidy(text) == by_the_rule(text), repr(text)
