"""Generic webhook notifier: the alert JSON object, signed with HMAC-SHA256.

What a receiver gets (one POST per alert and attempt):

    Content-Type: application/json
    X-AIS-Watch-Timestamp: 1694527500                 (unix seconds when this attempt was signed)
    X-AIS-Watch-Signature: sha256=<hex>               (only when a secret is configured)
    X-AIS-Watch-Delivery: <idempotency key>           (the same on every retry of one delivery)
    Idempotency-Key: <idempotency key>

    body: the alert object, UTF-8 JSON

The signature is HMAC-SHA256(secret, "<timestamp>.<raw body>") in hex. Verify it over the raw bytes
received (not re-serialised JSON), refuse old timestamps (replays), and drop repeated delivery keys:
a delivery may arrive more than once. `verify_signature` below is the reference; copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from ais_watch.alerts.notifiers.base import DeliveryResult, NotifierFilter
from ais_watch.alerts.notifiers.http import HttpPoster

SIGNATURE_HEADER = "X-AIS-Watch-Signature"
TIMESTAMP_HEADER = "X-AIS-Watch-Timestamp"
DELIVERY_HEADER = "X-AIS-Watch-Delivery"


def serialise(alert: dict[str, Any]) -> bytes:
    """The webhook body: the alert object serialised once; the signature covers exactly these bytes."""
    return json.dumps(alert, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-AIS-Watch-Signature value: 'sha256=' + hex HMAC-SHA256(secret, '<timestamp>.<body>')."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str | int, body: bytes, signature_header: str, *,
                     tolerance: float = 300, now: float | None = None) -> bool:
    """True when `signature_header` is a valid signature of `body` at `timestamp` and the timestamp is
    within `tolerance` seconds of now (either way): a captured request cannot be replayed later.

    Receiver's side, e.g. with aiohttp:
        body = await request.read()
        ok = verify_signature(SECRET, request.headers["X-AIS-Watch-Timestamp"], body,
                              request.headers["X-AIS-Watch-Signature"])
    """
    if not secret or not signature_header:
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    expected = sign(secret, ts, body)
    return hmac.compare_digest(expected.encode(), signature_header.strip().encode())


class WebhookNotifier:
    """POSTs each alert object as signed JSON to a URL."""

    type = "webhook"
    min_interval = 0.0

    def __init__(self, name: str, url: str, secret: str | None, filter: NotifierFilter, *,
                 timeout: float) -> None:
        self.name = name
        self.filter = filter
        self._url = url
        self._secret = secret or ""
        self._http = HttpPoster(timeout)

    def __repr__(self) -> str:  # never the URL or the secret
        return f"WebhookNotifier(name={self.name!r})"

    def request(self, alert: dict[str, Any], idempotency_key: str,
                now: float | None = None) -> tuple[bytes, dict[str, str]]:
        """Body and headers of one attempt (signed at `now`)."""
        body = serialise(alert)
        timestamp = str(int(time.time() if now is None else now))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: idempotency_key,
            "Idempotency-Key": idempotency_key,
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        return body, headers

    async def send(self, alert: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        try:
            body, headers = self.request(alert, idempotency_key)
        except (TypeError, ValueError) as err:
            return DeliveryResult(ok=False, response=f"alert is not serialisable: {err}", permanent=True)
        return await self._http.post(self._url, body, headers)

    async def close(self) -> None:
        await self._http.close()
