"""Report factories: what a decoder would hand the pipeline, with plain defaults a test overrides by
keyword (any PositionReport / StaticReport field)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ais_watch.model import PositionReport, StaticReport


def make_position(mmsi: int, when: datetime, lat: float, lon: float, **fields: Any) -> PositionReport:
    """A type 1 position heard at its event time `when`: under way (status 0) at 10 kn, heading due east,
    from source "test"."""
    values: dict[str, Any] = {"sog": 10.0, "cog": 90.0, "heading": 90, "nav_status": 0, "msg_type": 1,
                              "source": "test", "received_at": when}
    values.update(fields)
    return PositionReport(mmsi=mmsi, time=when, lat=lat, lon=lon, **values)


def make_static(mmsi: int, when: datetime, name: str | None = None, imo: int | None = None,
           **fields: Any) -> StaticReport:
    """A type 5 heard at `when`, from source "test"; an IMO given is one with a valid check digit unless
    `imo_valid` says otherwise."""
    values: dict[str, Any] = {"msg_type": 5, "source": "test", "received_at": when,
                              "imo_valid": True if imo is not None else None}
    values.update(fields)
    return StaticReport(mmsi=mmsi, time=when, name=name, imo=imo, **values)
