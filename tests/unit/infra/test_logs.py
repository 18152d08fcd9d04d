"""Log lines are JSON with the ids that let an operator follow one campaign or message."""

from __future__ import annotations

import json
import logging

from notifier.infra.logs import JsonFormatter


def test_a_log_line_is_json_with_ids() -> None:
    record = logging.LogRecord("notifier.send", logging.INFO, __file__, 1, "sent %d", (3,), None)
    record.campaign_id = 7
    record.delivery_id = 42
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "sent 3"
    assert (line["campaign_id"], line["delivery_id"], line["level"]) == (7, 42, "info")
    assert line["time"].endswith("+00:00")


def test_vietnamese_text_stays_readable() -> None:
    record = logging.LogRecord("n", logging.WARNING, __file__, 1, "Nguyễn Thị Lan", (), None)
    assert "Nguyễn Thị Lan" in JsonFormatter().format(record)
