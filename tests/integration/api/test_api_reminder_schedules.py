"""GET and PUT /notice-types/<key>/schedule: the reminder schedule of a notice type, with every
limit the OpenAPI document states, and hostile input answered 422 or 404, never 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.integration import test_api_support as support
from tests.integration.test_api_support import bearer, conforms, issue_key, renewal_type

api, key = support.api, support.key  # fixtures
PATH = "/api/v1/notice-types/{key}/schedule"
GOOD = {"steps": [-30, -7, -1, 3], "local_hour": 9}


def url(key: str = "renewal") -> str:
    return PATH.format(key=key)


def test_a_body_past_the_size_limit_is_413(api: FlaskClient) -> None:
    renewal_type()
    assert api.put(url(), json={"steps": list(range(-100_000, 0))}).status_code == 413


def test_a_schedule_is_set_read_and_replaced(api: FlaskClient) -> None:
    renewal_type()
    assert api.get(url()).status_code == 404
    saved = api.put(url(), json={"steps": [3, -7, -30, -1], "local_hour": 10})
    assert conforms(saved, "PUT", "/notice-types/{key}/schedule") == {
        "type": "renewal", "steps": [-30, -7, -1, 3], "local_hour": 10, "paused": False,
    }  # fmt: skip
    api.put(url(), json={"steps": [-7], "paused": True})
    read = api.get(url())
    assert conforms(read, "GET", "/notice-types/{key}/schedule") == {
        "type": "renewal", "steps": [-7], "local_hour": 9, "paused": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"steps": []},
        {"steps": [-7, -7]},
        {"steps": list(range(-11, 0))},
        {"steps": list(range(-1000, 0))},
        {"steps": [-366]},
        {"steps": [91]},
        {"steps": ["-7"]},
        {"steps": [True]},
        {"steps": [1.5]},
        {"steps": [10**30]},
        {"steps": "-30,-7"},
        {"steps": None},
        {"steps": [-7], "local_hour": 24},
        {"steps": [-7], "local_hour": "9"},
        {"steps": [-7], "paused": "yes"},
        {"steps": [-7], "time_zone": "UTC"},
        {},
    ],
)
def test_hostile_schedules_are_refused_with_the_field(api: FlaskClient, body: dict) -> None:
    renewal_type()
    answer = api.put(url(), json=body)
    assert answer.status_code == 422, answer.get_json()
    problem = conforms(answer, "PUT", "/notice-types/{key}/schedule")
    assert problem["errors"]
    assert api.get(url()).status_code == 404  # nothing was saved


@pytest.mark.parametrize("type_key", ["nope", "x" * 64, "x" * 65, "..%2Frenewal", "%00"])
def test_an_unknown_type_is_404(api: FlaskClient, type_key: str) -> None:
    renewal_type()
    assert api.put(url(type_key), json=GOOD).status_code == 404
    assert api.get(url(type_key)).status_code == 404


def test_a_type_whose_template_needs_more_than_a_subscription_is_refused(api: FlaskClient) -> None:
    from notifier.notices import notices
    from tests.integration.helpers import committed, layout_template

    with committed():
        notices.define_notice_type(
            "event_notice", "Event", "renewal", layout_template("event", "renewal")
        )
    answer = api.put(url("event_notice"), json=GOOD)
    assert answer.status_code == 422
    [error] = answer.get_json()["errors"]
    assert error["field"] == "steps" and "reminder lacks" in error["detail"]


def test_reading_takes_notices_and_writing_takes_templates(client: FlaskClient) -> None:
    renewal_type()
    notices_only = bearer(issue_key("notices"))
    assert client.put(url(), json=GOOD, headers=notices_only).status_code == 403
    writer = bearer(issue_key("templates"))
    assert client.put(url(), json=GOOD, headers=writer).status_code == 200
    assert client.get(url(), headers=notices_only).status_code == 200
    assert client.get(url()).status_code == 401
