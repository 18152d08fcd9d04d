"""Property-based fuzzing of the whole API from its OpenAPI document: no 5xx, no broken contract,
and the document exactly as strict as the server: a schema-valid request is accepted
(positive_data_acceptance) and a schema-invalid one refused (negative_data_rejection).

`make test` runs the fast form; `make api-fuzz` the long one (API_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from schemathesis import GenerationMode, Response, checks
from schemathesis.checks import CheckContext

from tests.conftest import configure
from tests.integration.helpers import make_contact
from tests.integration.test_api_support import issue_key, renewal_type

# Per operation and mode: about 400 requests in the fast form, under a minute or two.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
# Generous: on a machine shared with other test runs the fast form took 6-8 min, and a timeout
# mid-generation surfaces as hypothesis' FlakyStrategyDefinition, not as a timeout.
TIMEOUT = 900 if EXAMPLES <= 10 else 60 * 60


def _too_large(response: Response) -> bool:
    """A body over API_MAX_BODY_BYTES is refused by size before any schema (413, documented):
    JSON Schema counts characters, the limit counts bytes."""
    return response.status_code == 413


def _state_checked_only(response: Response, case: schemathesis.Case) -> bool:
    """A 422 that names only fields the document marks `x-state-checked`: a template id that
    exists, MJML that compiles, evidence newer than a withdrawal. No schema can state these."""
    if response.status_code != 422:
        return False
    marked = set(case.operation.definition.raw.get("x-state-checked", []))
    errors = response.json().get("errors") or [{"field": "body"}]
    return all(re.sub(r"\[\d+\]", "[]", e["field"]) in marked for e in errors)


@schemathesis.check
def rejects_negative_data(
    ctx: CheckContext, response: Response, case: schemathesis.Case
) -> bool | None:
    if _too_large(response):
        return None
    return checks.negative_data_rejection(ctx, response, case)


@schemathesis.check
def accepts_positive_data(
    ctx: CheckContext, response: Response, case: schemathesis.Case
) -> bool | None:
    if _too_large(response) or _state_checked_only(response, case):
        return None
    return checks.positive_data_acceptance(ctx, response, case)


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """The bulk body is documented as an array of rows, sent one JSON value a line; anything
    but an array (negative data) goes as one line, which the server must refuse."""
    rows = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.missing_required_header,
    checks.ignored_auth,
    checks.unsupported_method,
    rejects_negative_data,
    accepts_positive_data,
]


@pytest.fixture
def regexes_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """hypothesis builds a regex strategy lazily, and again for every `.filter()` schemathesis
    puts on it, at every draw: the fuzz spent four fifths of its time turning the email
    pattern's \\u0080-\\uffff classes into character sets. The same pattern, flags and
    alphabet give the same strategy, so each is built once, and filters wrap the built one."""
    built: dict[tuple[str, int, bool, str], Any] = {}
    from_regex = st.from_regex

    def cached(regex: Any, *, fullmatch: bool = False, alphabet: Any = None) -> Any:
        compiled = re.compile(regex)
        key = (compiled.pattern, compiled.flags, fullmatch, repr(alphabet))
        if key not in built:
            lazy = from_regex(compiled, fullmatch=fullmatch, alphabet=alphabet)
            try:
                built[key] = lazy.wrapped_strategy
            except InvalidArgument:  # schemathesis' own validate() call reports it
                built[key] = lazy
        return built[key]

    monkeypatch.setattr(st, "from_regex", cached)


# The operations in SHARDS slices per mode, so that `make pytest`'s processes share the fuzz
# (tests/conftest.py keeps every other file's tests in one process).
SHARDS = 4


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.usefixtures("regexes_built_once")
@pytest.mark.parametrize(
    "shard",
    [pytest.param(k, marks=pytest.mark.xdist_group(f"api-fuzz-{k}")) for k in range(SHARDS)],
)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_breaks_the_api(app: Flask, mode: GenerationMode, shard: int) -> None:
    # The bulk body's row limit is the document's maxItems: a small one keeps the negative
    # case (one row too many) quick to generate.
    configure(app, API_RATE_LIMIT=1_000_000, API_MAX_BULK_ROWS=2)
    renewal_type()
    make_contact("khach@example.com", external_ref="KH-001")
    make_contact("ban@example.com", external_ref="0")
    headers = {"Authorization": f"Bearer {issue_key()}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # 17 before this round; +4 subscriptions, +11 lists, erasure, suppressions, the report,
    # layouts and notice texts, +7 webhook endpoints and deliveries
    assert len(operations) == 41

    for operation in operations[shard::SHARDS]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        fuzz()
