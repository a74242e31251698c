"""Feed health: a source that delivers nothing for longer than a threshold, or whose message rate
collapses (under 5% of its usual rate over a window as long as that threshold), is in outage.

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
from ais_watch.model import Report
from ais_watch.pipeline.stage import Context, Services, StageBase, StartServices
from ais_watch.pipeline.traffic import KEEP_OUTAGES, Interval, TrafficWindow, overlap

MIN_USUAL = 50  # messages per window below which a feed is too quiet to judge its rate


@dataclass(slots=True)
class FeedState:
    source: str
    last_message: datetime | None = None
    down_since: datetime | None = None  # the last message before the current outage, while it lasts
    outages: list[Interval] = field(default_factory=list)
    collapsed: bool = False  # the current outage is a rate collapse (a trickle still arrives)
    window: TrafficWindow | None = None  # messages per window of the outage threshold


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
        if state.window is None:
            state.window = TrafficWindow(self.threshold)
        if state.window.add(when):
            drafts.extend(self._close_window(state, state.window, when))
        last = state.last_message
        if state.collapsed:
            pass  # restored by the window count, not by one message
        elif state.down_since is not None:
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

    def _close_window(self, state: FeedState, window: TrafficWindow, when: datetime) -> list[AlertDraft]:
        """The window ending now: compare its count with the usual one (event time, so replays agree)."""
        assert window.start is not None
        drafts = []
        if state.collapsed:
            if window.recovered():
                drafts.append(self._restored(state, when))
                state.collapsed = False
        elif state.down_since is None and window.collapsed(MIN_USUAL):
            assert window.usual is not None
            state.down_since = window.start
            state.collapsed = True
            state.outages.append((window.start, None))
            drafts.append(self._outage(state, when, reason="rate collapsed", count=window.count,
                                       usual=window.usual))
        window.close(when, healthy=not state.collapsed)
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

    def outage_intervals(self, source: str | None) -> list[Interval]:
        """When the source was not heard, and when the service itself was down (every source's outage)."""
        state = self.feeds.get(source) if source is not None else None
        return [*(state.outages if state is not None else ()), *self.service_gaps]

    def outage_overlap(self, source: str | None, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end] the source spent in outage (an open outage runs to `end`), counting
        the service's own downtime as every source's outage; overlapping intervals count once."""
        return overlap(self.outage_intervals(source), start, end)

    # ----------------------------------------------------------------------------------- drafts
    def _outage(
        self,
        state: FeedState,
        occurred: datetime | None = None,
        reason: str = "no messages",
        count: int | None = None,
        usual: float | None = None,
    ) -> AlertDraft:
        assert state.down_since is not None
        details: dict[str, object] = {"reason": reason}
        if usual is not None:
            details.update(messages_in_window=count, usual_per_window=round(usual, 1))
        return AlertDraft(
            kind="feed_outage",
            occurred_at=occurred or state.down_since + self.threshold,
            event_key=iso(state.down_since) or "",
            place=state.source,
            details={
                "source": state.source,
                "last_message_at": iso(state.down_since),
                "threshold_seconds": self.threshold.total_seconds(),
                **details,
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


class FeedHealthStep(StageBase):
    """The step: every report is heard on its source (event time in a replay, receive time live); a
    tick judges every source of this instance (not fleet-wide: each instance watches its own feeds)."""

    name = "feed health"
    fleet_wide = False

    def __init__(self, threshold: timedelta, *, event_time: bool) -> None:
        self.health = FeedHealth(threshold)
        self.event_time = event_time
        self._resume_from: datetime | None = None

    async def start(self, services: StartServices) -> None:
        if services.resume_from is None:
            return
        if services.live:
            # From the last event stored before the stop until now, nothing was watching.
            self.health.service_was_down(services.resume_from, services.now())
        elif self.event_time:
            # A replay resuming a store: the time between its last event and this replay's first was
            # not watched, so it is nobody's silence (known at the first report).
            self._resume_from = services.resume_from

    def handle(self, report: Report, ctx: Context) -> None:
        when = report.time if self.event_time else report.received_at
        for draft in self.health.observe(report.source, when):
            ctx.services.raise_alert(draft)
        if self._resume_from is not None:
            self.health.service_was_down(self._resume_from, report.time)
            self._resume_from = None

    def tick(self, now: datetime, services: Services) -> None:
        for draft in self.health.tick(now):
            services.raise_alert(draft)
