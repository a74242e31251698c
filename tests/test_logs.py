"""JSON log lines for a log shipper: one object per record, parseable, with the traceback."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from ais_watch.logs import JsonFormatter

pytestmark = pytest.mark.unit


def test_a_record_is_one_json_object_with_its_traceback() -> None:
    try:
        raise ValueError("boom <b>")
    except ValueError:
        record = logging.LogRecord("ais_watch.x", logging.ERROR, __file__, 1, "failed %s", ("MARIA",), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "ais_watch.x", "failed MARIA")
    assert entry["time"].endswith("Z") and "ValueError: boom <b>" in entry["exception"]
