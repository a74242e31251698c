"""Alerts that a `serve` child process delivers to the loopback receiver: the environment that makes it
do so (signed with SECRET, retrying fast), and the check that each alert arrived exactly once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ais_watch.alerts.notifiers import verify_signature
from tests.helpers.receiver import Receiver
from tests.helpers.serve import child_env

SECRET = "restart-secret"


def webhook_env(db_url: str, webhook_url: str, **extra: str) -> dict[str, str]:
    """serve on `db_url` delivering to `webhook_url`: quick retries, API on any free port, no demo."""
    return child_env(**{
        "AIS_WATCH_DB": db_url, "AIS_WATCH_WEBHOOK_URL": webhook_url, "AIS_WATCH_WEBHOOK_SECRET": SECRET,
        "AIS_WATCH_DEMO_REPLAY": "false", "AIS_WATCH_HTTP_PORT": "0", "AIS_WATCH_ALERTS_RETRY_INITIAL": "0.1",
        "AIS_WATCH_ALERTS_RETRY_MAX": "0.4", "AIS_WATCH_ALERTS_HTTP_TIMEOUT": "2",
        "AIS_WATCH_LOG_LEVEL": "INFO", **extra,
    })


def check_exactly_once(rec: Receiver, rows: list[dict[str, Any]], alert_ids: list[int]) -> None:
    """Each of our alerts accepted exactly once, under its delivery's idempotency key, signed."""
    ours = [r for r in rec.accepted("/hook") if r.json()["id"] in alert_ids]
    assert Counter(r.json()["id"] for r in ours) == Counter(alert_ids)
    assert Counter(r.key for r in rec.accepted("/hook")).most_common(1)[0][1] == 1, "a delivery key twice"
    key_of = {row["alert_id"]: row["idempotency_key"] for row in rows}
    for r in ours:
        assert r.key == key_of[r.json()["id"]] == r.headers["Idempotency-Key"]
        assert verify_signature(SECRET, r.headers["X-AIS-Watch-Timestamp"], r.body,
                                r.headers["X-AIS-Watch-Signature"])
