"""Slack through a bot token: Slack's Web API method chat.postMessage, one thread per incident, so the
channel shows one message per voyage and the rest of its story in the thread under it.

An incident's first alert is posted to the channel; Slack answers `{"ok": true, "channel": "C…",
"ts": "1503435956.000247"}` and the dispatcher keeps that message (ais_watch/alerts/threads.py) for the
incident, notifier and channel. Each later alert of the incident is posted with `thread_ts` set to it, as
a reply; one at or above `broadcast` severity (default critical: a possible dark port call) is also shown
in the channel (`reply_broadcast`). The message itself is the incoming-webhook one (slack.py: Block Kit,
every AIS text escaped, `verbatim`), the parent with a line naming its incident.

Slack's answers: HTTP 429 with Retry-After when posting too fast (honoured by the dispatcher, which also
keeps to one message a second per notifier); HTTP 200 with `"ok": false` and an `error` otherwise.
Errors that say the request or the setup is wrong (invalid_auth, channel_not_found, not_in_channel,
missing_scope, ...) fail the delivery at once with one line saying what to fix; only Slack's own trouble
(ratelimited, internal_error, service_unavailable, ...) is retried. The token is sent only in the
Authorization header and never appears in a log, an error or repr().
"""

from __future__ import annotations

import json
from typing import Any

from ais_watch.alerts.model import Severity
from ais_watch.alerts.notifiers.base import DeliveryResult, NotifierFilter, ThreadRef
from ais_watch.alerts.notifiers.http import HttpPoster
from ais_watch.alerts.notifiers.slack import slack_message

API_URL = "https://slack.com/api"
READ_LIMIT = 256 * 1024  # bytes of an answer read: Slack echoes the whole message back
# Slack's trouble, not ours: worth another try (with the dispatcher's backoff).
RETRYABLE_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error",
                              "service_unavailable", "request_timeout", "team_added_to_org",
                              "org_login_required"})
# What to do about the permanent errors an operator can fix.
ERROR_HINTS = {
    "invalid_auth": "the bot token is not valid",
    "not_authed": "no bot token was sent",
    "token_revoked": "the bot token was revoked",
    "token_expired": "the bot token has expired",
    "account_inactive": "the bot's user or workspace is gone",
    "channel_not_found": "no such channel, or the bot cannot see it",
    "not_in_channel": "invite the bot to the channel",
    "is_archived": "the channel is archived",
    "missing_scope": "the bot token needs the chat:write scope",
    "no_permission": "the bot may not post in that channel",
    "restricted_action": "a workspace setting keeps the bot from posting",
    "msg_too_long": "the message is too long",
    "invalid_blocks": "Slack refused the message's blocks",
}


def read_answer(raw: bytes, status: int | None = None) -> DeliveryResult:
    """A 2xx answer of chat.postMessage as a DeliveryResult: `posted` on success; `ok: false` retryable
    for Slack's own trouble and permanent (with what to fix) for anything else."""
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return DeliveryResult(ok=False, status=status, response="Slack's answer is not a JSON object")
    if answer.get("ok") is True:
        ts, channel = answer.get("ts"), answer.get("channel")
        if isinstance(ts, str) and ts and isinstance(channel, str) and channel:
            return DeliveryResult(ok=True, status=status, response=f"posted {ts} in {channel}",
                                  posted=ThreadRef(channel, ts))
        return DeliveryResult(ok=True, status=status, response="posted (Slack named no ts)")
    error = answer.get("error")
    name = error if isinstance(error, str) and error else "unknown_error"
    if name in RETRYABLE_ERRORS:
        return DeliveryResult(ok=False, status=status, response=f"Slack error {name[:80]}")
    hint = ERROR_HINTS.get(name)
    text = f"Slack refused the message: {name[:80]}" + (f" ({hint})" if hint else "")
    return DeliveryResult(ok=False, status=status, response=text, permanent=True)


class SlackThreadNotifier:
    """Posts alerts with chat.postMessage, a thread per incident (a ThreadedNotifier)."""

    type = "slack"
    min_interval = 1.0  # chat.postMessage: about one message a second per channel

    def __init__(self, name: str, token: str, channel: str, filter: NotifierFilter, *, timeout: float,
                 map_url: str, api_url: str = API_URL,
                 broadcast: Severity | None = Severity.CRITICAL) -> None:
        self.name = name
        self.filter = filter
        self.map_url = map_url
        self.channel = channel
        self.thread_scope = channel
        self.broadcast = broadcast
        self._token = token
        self._url = api_url.rstrip("/") + "/chat.postMessage"
        self._http = HttpPoster(timeout)

    def __repr__(self) -> str:  # never the token
        return f"SlackThreadNotifier(name={self.name!r}, channel={self.channel!r})"

    def payload(self, alert: dict[str, Any], parent: ThreadRef | None) -> dict[str, Any]:
        """The chat.postMessage arguments for one alert: a parent naming its incident, or a reply."""
        message = slack_message(alert, self.map_url)
        incident = alert.get("incident_id")
        if parent is None:
            body: dict[str, Any] = {"channel": self.channel, **message}
            if incident is not None:
                body["blocks"] = [*message["blocks"], {"type": "context", "elements": [{
                    "type": "mrkdwn", "verbatim": True,
                    "text": f"Incident #{int(incident)} · its later alerts are replies in this thread"}]}]
            return body
        body = {"channel": parent.channel, **message, "thread_ts": parent.ts}
        if self.broadcast is not None and _severity(alert) >= self.broadcast:
            body["reply_broadcast"] = True
        return body

    async def send(self, alert: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        """An alert of no incident (stored before incidents existed): a message of its own."""
        return await self.send_in_thread(alert, idempotency_key, None)

    async def send_in_thread(self, alert: dict[str, Any], idempotency_key: str,
                             parent: ThreadRef | None) -> DeliveryResult:
        try:
            body = json.dumps(self.payload(alert, parent), ensure_ascii=False).encode()
        except (TypeError, ValueError) as err:
            return DeliveryResult(ok=False, response=f"cannot build the Slack message: {err}", permanent=True)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Authorization": f"Bearer {self._token}"}
        result, raw = await self._http.exchange(self._url, body, headers, READ_LIMIT)
        if raw is None:
            return result  # no answer: a timeout, a refused connection (retried)
        if not result.ok:  # an HTTP error (429 with Retry-After, 5xx, 404 for a wrong api_url)
            error = _error_name(raw)
            return result if error is None else DeliveryResult(
                ok=False, status=result.status, response=f"Slack error {error} (HTTP {result.status})",
                retry_after=result.retry_after, permanent=result.permanent)
        return read_answer(raw, result.status)

    async def close(self) -> None:
        await self._http.close()


def _severity(alert: dict[str, Any]) -> Severity:
    try:
        return Severity.parse(str(alert.get("severity") or "info"))
    except ValueError:
        return Severity.INFO


def _error_name(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    error = answer.get("error") if isinstance(answer, dict) else None
    return error[:80] if isinstance(error, str) and error else None
