"""Property-based fuzzing of the whole API from its OpenAPI document: no 5xx, no broken contract."""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, Response, checks
from schemathesis.checks import CheckContext

from tests.conftest import configure
from tests.integration.helpers import make_contact
from tests.integration.test_api_support import issue_key, renewal_type

EXAMPLES = 10  # per operation and mode: about 300 requests, under a minute


@schemathesis.check
def rejects_negative_data(
    ctx: CheckContext, response: Response, case: schemathesis.Case
) -> bool | None:
    """A huge schema-violating body is rightly refused by the size limit before the schema."""
    if response.status_code == 413:
        return None
    return checks.negative_data_rejection(ctx, response, case)


# Everything but positive_data_acceptance: a schema-valid body may still name an unknown
# notice type or template, and 404/409/422 are the right answers for those.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    rejects_negative_data,
    checks.missing_required_header,
    checks.ignored_auth,
]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_breaks_the_api(app: Flask, mode: GenerationMode) -> None:
    configure(app, API_RATE_LIMIT=1_000_000)
    renewal_type()
    make_contact("khach@example.com", external_ref="KH-001")
    headers = {"Authorization": f"Bearer {issue_key()}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 17  # with POST /notice-types and PUT /notice-types/{key}

    for operation in operations:

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
