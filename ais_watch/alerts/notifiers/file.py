"""File notifier: one JSON line per alert (JSON Lines), appended to a file or written to stdout ("-").

The file is opened in append mode for each alert, so it can be rotated or removed underneath us, and
each line is flushed and fsync'd before the send counts as delivered."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from ais_watch.alerts.notifiers.base import RESPONSE_SNIPPET, DeliveryResult, NotifierFilter


def json_line(alert: dict[str, Any]) -> str:
    return json.dumps(alert, separators=(",", ":"), ensure_ascii=False) + "\n"


class FileNotifier:
    type = "file"
    min_interval = 0.0

    def __init__(self, name: str, path: str | os.PathLike[str], filter: NotifierFilter) -> None:
        self.name = name
        self.filter = filter
        self.path = str(path)
        self._lock = asyncio.Lock()  # one line at a time, never interleaved

    def __repr__(self) -> str:
        return f"FileNotifier(name={self.name!r}, path={self.path!r})"

    def _append(self, line: str) -> None:
        with Path(self.path).expanduser().open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    @staticmethod
    def _stdout(line: str) -> None:
        sys.stdout.write(line)
        sys.stdout.flush()

    async def send(self, alert: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        try:
            line = json_line(alert)
        except (TypeError, ValueError) as err:
            return DeliveryResult(ok=False, response=f"alert is not serialisable: {err}", permanent=True)
        async with self._lock:
            try:
                if self.path == "-":
                    self._stdout(line)
                else:
                    await asyncio.to_thread(self._append, line)
            except (OSError, ValueError) as err:  # ValueError: a closed stdout
                return DeliveryResult(ok=False, response=str(err)[:RESPONSE_SNIPPET])
        return DeliveryResult(ok=True)

    async def close(self) -> None:
        return None
