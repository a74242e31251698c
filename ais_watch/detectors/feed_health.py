"""Feed health: a source that delivers nothing for longer than a threshold is in outage.

Time the feed was down is not a vessel's silence: the dark detector asks `outage_overlap` for the part
of a silence that fell inside an outage of the source the vessel was last heard through, so a 3-hour
outage does not make every watchlisted ship "go dark".

Pure state machine, no I/O: `observe` (a message arrived), `tick` (the clock moved) return alert drafts.
Times are the pipeline clock's: receive time live, event time in a replay, where an outage shows as a
jump in the source's event times and is raised, with its restoration, when the next message arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ais_watch.alerts.model import AlertDraft, iso

KEEP_OUTAGES = 64  # per source: enough to cover any silence threshold, bounded memory


@dataclass(slots=True)
class FeedState:
    source: str
    last_message: datetime | None = None
    down_since: datetime | None = None  # the last message before the current outage, while it lasts
    outages: list[tuple[datetime, datetime | None]] = field(default_factory=list)  # (from, to or open)


class FeedHealth:
    def __init__(self, threshold: timedelta) -> None:
        self.threshold = threshold
        self.feeds: dict[str, FeedState] = {}
        # Times nothing was watching at all (the service itself was down): an outage of every source.
        self.service_gaps: list[tuple[datetime, datetime]] = []

    def service_was_down(self, since: datetime, until: datetime) -> None:
        """The service was not running from `since` (its last known event) to `until`: no source can
        have been heard then, so that time is nobody's silence. Only gaps longer than the threshold."""
        if until - since > self.threshold:
            self.service_gaps.append((since, until))
            del self.service_gaps[:-KEEP_OUTAGES]

    def observe(self, source: str, when: datetime) -> list[AlertDraft]:
        state = self.feeds.get(source)
        if state is None:
            self.feeds[source] = FeedState(source, last_message=when)
            return []
        drafts: list[AlertDraft] = []
        last = state.last_message
        if state.down_since is not None:
            if when > state.down_since:
                drafts.append(self._restored(state, when))
        elif last is not None and when - last > self.threshold:
            # The gap is seen only now (a replay's clock jumps): the outage is [last, when], both ends known.
            state.down_since = last
            state.outages.append((last, None))
            drafts.append(self._outage(state))
            drafts.append(self._restored(state, when))
        if last is None or when > last:
            state.last_message = when
        return drafts

    def tick(self, now: datetime) -> list[AlertDraft]:
        drafts = []
        for state in self.feeds.values():
            last = state.last_message
            if state.down_since is None and last is not None and now - last > self.threshold:
                state.down_since = last
                state.outages.append((last, None))
                drafts.append(self._outage(state))
        return drafts

    def is_down(self, source: str) -> bool:
        state = self.feeds.get(source)
        return state is not None and state.down_since is not None

    def outage_overlap(self, source: str | None, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end] the source spent in outage (an open outage runs to `end`), counting
        the service's own downtime as every source's outage; overlapping intervals count once."""
        if end <= start:
            return timedelta(0)
        state = self.feeds.get(source) if source is not None else None
        intervals = [(lo, hi or end) for lo, hi in state.outages] if state is not None else []
        intervals += self.service_gaps
        clipped = sorted(
            (max(start, lo), min(end, hi)) for lo, hi in intervals if min(end, hi) > max(start, lo)
        )
        total = timedelta(0)
        covered_to = start
        for lo, hi in clipped:
            lo = max(lo, covered_to)
            if hi > lo:
                total += hi - lo
                covered_to = hi
        return total

    # ----------------------------------------------------------------------------------- drafts
    def _outage(self, state: FeedState) -> AlertDraft:
        assert state.down_since is not None
        return AlertDraft(
            kind="feed_outage",
            occurred_at=state.down_since + self.threshold,
            event_key=iso(state.down_since) or "",
            place=state.source,
            details={
                "source": state.source,
                "last_message_at": iso(state.down_since),
                "threshold_seconds": self.threshold.total_seconds(),
            },
        )

    def _restored(self, state: FeedState, when: datetime) -> AlertDraft:
        assert state.down_since is not None
        down_since = state.down_since
        state.outages[-1] = (down_since, when)
        del state.outages[:-KEEP_OUTAGES]
        state.down_since = None
        return AlertDraft(
            kind="feed_restored",
            occurred_at=when,
            event_key=iso(down_since) or "",
            place=state.source,
            details={
                "source": state.source,
                "down_since": iso(down_since),
                "outage_seconds": (when - down_since).total_seconds(),
            },
        )
