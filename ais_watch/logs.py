"""Logging set-up: console lines for people, JSON lines for log shippers (`log_format = "json"`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    """Like logging.basicConfig: a process that already has handlers (a test runner) keeps its own."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else
                             logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
    quiet_libraries(level)


def quiet_libraries(level: str) -> None:
    """Libraries' routine chatter only when debugging: Alembic's per command, APScheduler's two INFO lines
    per job run ("Running job", "executed successfully": two every 30 s for the zones reload alone). A
    failed job is the scheduler's own one line (ais_watch.scheduler.guarded); APScheduler's warnings (a
    run missed or skipped) still show."""
    for name in ("alembic", "apscheduler"):
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else logging.WARNING)
