"""Feed health: a rate collapse is an outage too (a receiver that still sends a trickle)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ais_watch.pipeline.feed_health import FeedHealth

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def feed(health: FeedHealth, start: timedelta, end: timedelta, every: timedelta,
         source: str = "tcp:a") -> list:
    drafts = []
    t = T0 + start
    while t < T0 + end:
        drafts += health.observe(source, t)
        t += every
    return drafts


def test_a_collapse_to_a_trickle_is_an_outage_and_its_recovery_a_restore() -> None:
    health = FeedHealth(timedelta(minutes=10))
    normal = timedelta(seconds=1)  # 600 messages per 10-minute window
    assert feed(health, timedelta(0), timedelta(hours=1), normal) == []
    # A trickle: one message every 2 minutes (5 per window, under 5% of 600), for an hour.
    drafts = feed(health, timedelta(hours=1), timedelta(hours=2), timedelta(minutes=2))
    assert [d.kind for d in drafts] == ["feed_outage"]
    assert drafts[0].details["reason"] == "rate collapsed"
    assert health.is_down("tcp:a")
    # The silence of a ship heard through this source during the collapse is not counted.
    overlap = health.outage_overlap("tcp:a", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    assert overlap >= timedelta(minutes=45)
    drafts = feed(health, timedelta(hours=2), timedelta(hours=3), normal)
    assert [d.kind for d in drafts] == ["feed_restored"]
    assert not health.is_down("tcp:a")


def test_a_quiet_feed_and_normal_variation_are_no_collapse() -> None:
    health = FeedHealth(timedelta(minutes=10))
    # Too quiet to judge (a message a minute): nothing; then a busy feed dropping to a third: nothing.
    assert feed(health, timedelta(0), timedelta(hours=1), timedelta(minutes=1), source="quiet") == []
    assert feed(health, timedelta(0), timedelta(hours=1), timedelta(seconds=1), source="busy") == []
    assert feed(health, timedelta(hours=1), timedelta(hours=2), timedelta(seconds=3), source="busy") == []
    assert not health.is_down("busy") and not health.is_down("quiet")
