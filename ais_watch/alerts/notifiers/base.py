"""What every notifier shares: the result of one delivery attempt and the routing filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ais_watch.alerts.model import Severity

RESPONSE_SNIPPET = 500  # characters of a receiver's answer kept with each attempt


@dataclass(frozen=True, slots=True)
class ThreadRef:
    """A message a threaded notifier posted, that later messages of its incident reply to (Slack: the
    channel ID and the message's ts)."""

    channel: str
    ts: str


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    status: int | None = None  # HTTP status; None when there was no response
    response: str = ""  # short response body or error text
    retry_after: float | None = None  # seconds the receiver asked us to wait (429/503 Retry-After)
    permanent: bool = False  # retrying cannot help (e.g. 400, 404: bad URL or payload refused)
    posted: ThreadRef | None = None  # a threaded notifier's message, as the receiver named it


@dataclass(frozen=True, slots=True)
class NotifierFilter:
    """Which alerts a notifier gets. None means no restriction on that dimension."""

    kinds: frozenset[str] | None = None
    min_severity: Severity = Severity.INFO
    tags: frozenset[str] | None = None  # any of these watchlist tags
    zones: frozenset[str] | None = None  # any of these zone ids

    def matches(self, kind: str, severity: Severity, tags: tuple[str, ...] | list[str],
                zones: tuple[str, ...] | list[str]) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        if severity < self.min_severity:
            return False
        if self.tags is not None and not self.tags.intersection(tags):
            return False
        return not (self.zones is not None and not self.zones.intersection(zones))


class Notifier(Protocol):
    name: str  # unique; deliveries name their notifier by it
    type: str  # "slack", "webhook" or "file"
    min_interval: float  # seconds between two sends (Slack allows about one a second per webhook)
    filter: NotifierFilter

    async def send(self, alert: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        """Deliver one alert object. Never raises for a receiver's failure: returns the result."""

    async def close(self) -> None: ...


@runtime_checkable
class ThreadedNotifier(Notifier, Protocol):
    """A notifier that keeps one thread per incident (Slack with a bot token): the dispatcher posts an
    incident's first alert as the thread's parent, remembers the message, and sends the later alerts as
    replies to it (ais_watch/alerts/threads.py)."""

    thread_scope: str  # where its threads live (the channel as configured): one thread per incident in it

    async def send_in_thread(self, alert: dict[str, Any], idempotency_key: str,
                             parent: ThreadRef | None) -> DeliveryResult:
        """Deliver one alert object: as a reply to `parent`, or, with none, as a new message whose
        `posted` reference later replies use."""
