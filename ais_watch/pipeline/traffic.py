"""What the feed-health and reception steps share: message counts per window with the usual count, and
the outage intervals of something that can stop being heard (a feed, a station, an area)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

COLLAPSE = 0.05  # a window with under 5% of the usual count is a collapse (a receiver half-dead)
RECOVER = 0.5  # and the traffic is back once a window reaches half of it
KEEP_OUTAGES = 64  # outage intervals kept per thing heard: enough to cover any silence, bounded memory

Interval = tuple[datetime, datetime | None]  # (from, to), to None while it lasts


@dataclass(slots=True)
class TrafficWindow:
    """Messages per window of `length` (on the step's clock) and the usual count per window: a moving
    average over the windows judged healthy."""

    length: timedelta
    start: datetime | None = None
    count: int = 0
    usual: float | None = None

    def add(self, when: datetime) -> bool:
        """Count a message at `when`. True when it falls past the current window: the window is then
        over, its `count` still to be judged (`close`), and the message is not yet counted."""
        if self.start is None:
            self.start = when
        if when - self.start >= self.length:
            return True
        self.count += 1
        return False

    def close(self, when: datetime, *, healthy: bool) -> None:
        """End the window at `when` (which starts the next, counting that message). A healthy window
        that was not stretched by a gap moves the usual count."""
        assert self.start is not None
        if healthy and when - self.start < 2 * self.length:
            self.usual = self.count if self.usual is None else 0.8 * self.usual + 0.2 * self.count
        self.start, self.count = when, 1

    def collapsed(self, min_usual: float) -> bool:
        """The window just over carried under COLLAPSE of a usual count big enough to judge."""
        return self.usual is not None and self.usual >= min_usual and self.count < self.usual * COLLAPSE

    def recovered(self) -> bool:
        return self.usual is not None and self.count >= self.usual * RECOVER


def overlap(intervals: Iterable[Interval], start: datetime, end: datetime) -> timedelta:
    """How much of [start, end] the intervals cover (an open one runs to `end`); overlaps count once."""
    if end <= start:
        return timedelta(0)
    clipped = sorted((max(start, lo), min(end, hi or end)) for lo, hi in intervals
                     if min(end, hi or end) > max(start, lo))
    total = timedelta(0)
    covered_to = start
    for lo, hi in clipped:
        lo = max(lo, covered_to)
        if hi > lo:
            total += hi - lo
            covered_to = hi
    return total
