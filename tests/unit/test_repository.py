"""The repository stands on its own: no path outside it, and every test the docs cite exists."""

from __future__ import annotations

import ast
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Written in pieces so that this file does not trip its own check.
OUTSIDE = re.compile(
    "|".join(
        [
            re.escape(".." + "/shared"),
            # the design inputs this repository was written from, named without the "../"
            r"(?<![\w./-])" + "shared" + r"/(?:DESIGN|COMPLIANCE|POLICIES|STYLE|policies|hooks)\b",
            r"(?<![\w.~-])/(?:" + "work|home|root|Users|mnt" + r")/",
        ]
    )
)
CITED_TEST = re.compile(r"(tests/[\w/]+\.py)::([\w:]+)")


@cache
def tracked() -> tuple[str, ...]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return tuple(name for name in listed.decode().split("\0") if name)


def tracked_text(suffixes: tuple[str, ...] = ()) -> dict[str, str]:
    texts = {}
    for name in tracked():
        path = ROOT / name
        if path.is_file() and (not suffixes or name.endswith(suffixes)):
            texts[name] = path.read_bytes().decode("utf-8", errors="replace")
    return texts


def outside_references(texts: dict[str, str]) -> list[str]:
    return [
        f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
        for name, text in texts.items()
        for match in OUTSIDE.finditer(text)
    ]


def test_the_check_catches_what_it_is_for() -> None:
    samples = {
        "a.md": "see `" + ".." + "/shared/DESIGN.md`",
        "b.toml": "# from /" + "work/shared/policies/x.txt",
        "c.py": "KEY = '/" + "home/lan/.ssh/id_rsa'",
        "d.toml": "# Source: (" + "shared/" + "policies/dcnet.vi.txt)",
    }
    assert len(outside_references(samples)) == 4
    assert outside_references({"d.md": "`docs/design.md`, https://example.vn/work/x"}) == []


def test_no_tracked_file_points_outside_the_repository() -> None:
    assert tracked(), "git ls-files listed nothing"
    assert outside_references(tracked_text()) == []


@cache
def defined_tests(path: str) -> frozenset[str]:
    """Test functions of a file, as `name` and `Class::name`."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return frozenset(name for name in names if name.split("::")[-1].startswith("test"))


def missing_tests(texts: dict[str, str]) -> list[str]:
    missing = []
    for name, text in texts.items():
        for path, test in CITED_TEST.findall(text):
            if not (ROOT / path).is_file() or test not in defined_tests(path):
                missing.append(f"{name}: {path}::{test}")
    return missing


def test_the_test_check_catches_a_rename() -> None:
    here = "tests/unit/test_repository.py"
    assert missing_tests({"a.md": f"`{here}::test_the_test_check_catches_a_rename`"}) == []
    assert missing_tests({"b.md": f"`{here}::test_gone`"}) == [f"b.md: {here}::test_gone"]
    assert missing_tests({"c.md": "`tests/unit/test_gone.py::test_x`"}) != []


@pytest.mark.parametrize(
    "page",
    ["docs/design.md", "docs/compliance.md", "docs/policies/dcnet.md",
     "docs/policies/caycanhhoanggia.md"],
)  # fmt: skip
def test_the_specification_pages_name_their_tests(page: str) -> None:
    assert len(CITED_TEST.findall(tracked_text((".md",)).get(page, ""))) >= 10, page


@pytest.mark.parametrize("page", ["README.md", "docs/"])
def test_every_test_the_docs_cite_exists(page: str) -> None:
    texts = {name: text for name, text in tracked_text((".md",)).items() if name.startswith(page)}
    assert texts
    assert missing_tests(texts) == []
