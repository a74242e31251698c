"""Ships meeting at sea, as the reports a decoder would hand the pipeline: two drifting alongside, one
sailing somewhere, one moored; and a port to name the meeting place from ("40 nm E of Chongjin")."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ais_watch.geo import distance_nm
from ais_watch.model import PositionReport
from tests.helpers.ports import Port
from tests.helpers.reports import make_position

M_PER_DEG_LAT = 111_195.0
CHONGJIN = Port("KPCHJ", "Chongjin", "KP", 41.7833, 129.8167)
# 40 nm due east of Chongjin's reference point, on its parallel: well out at sea (~35 nm off the coast).
OFF_CHONGJIN = (CHONGJIN.ref_lat, CHONGJIN.ref_lon + 40 / (60 * math.cos(math.radians(CHONGJIN.ref_lat))))


def moved(where: tuple[float, float], metres: float, course: float) -> tuple[float, float]:
    """`metres` from `where` on `course` (flat: a few km at most)."""
    north = metres * math.cos(math.radians(course)) / M_PER_DEG_LAT
    east = metres * math.sin(math.radians(course)) / (M_PER_DEG_LAT * math.cos(math.radians(where[0])))
    return where[0] + north, where[1] + east


def alongside(a: int, b: int, start: datetime, hours: float, where: tuple[float, float] = OFF_CHONGJIN, *,
              every: timedelta = timedelta(minutes=5), apart_m: float = 300.0) -> list[PositionReport]:
    """`a` at `where` and `b` `apart_m` east of it, both drifting north at 0.5 kn, a fix each every
    `every` from `start` for `hours` (b 30 s after a), in time order."""
    out = []
    t = start
    while t < start + timedelta(hours=hours):
        north = 0.5 * 1852 * (t - start).total_seconds() / 3600
        here = moved(where, north, 0.0)
        out.append(make_position(a, t, *here, sog=0.5, cog=0.0, heading=None))
        out.append(make_position(b, t + timedelta(seconds=30), *moved(here, apart_m, 90.0), sog=0.5, cog=0.0,
                                 heading=None))
        t += every
    return out


def sailing(mmsi: int, start: datetime, frm: tuple[float, float], to: tuple[float, float], *,
            knots: float = 12.0, every: timedelta = timedelta(minutes=5)
            ) -> tuple[list[PositionReport], datetime]:
    """A fix every `every` from `frm` towards `to` at `knots` (`to` itself not included), and when it gets
    there."""
    duration = timedelta(hours=distance_nm(*frm, *to) / knots)
    out, t = [], start
    while t < start + duration:
        f = (t - start) / duration
        out.append(make_position(mmsi, t, frm[0] + (to[0] - frm[0]) * f, frm[1] + (to[1] - frm[1]) * f,
                                 sog=knots, cog=0.0, heading=None))
        t += every
    return out, start + duration


def moored(mmsi: int, start: datetime, end: datetime, where: tuple[float, float], *,
           every: timedelta = timedelta(minutes=5)) -> list[PositionReport]:
    """A fix every `every` from `start` until `end` of a ship moored at `where`."""
    out, t = [], start
    while t < end:
        out.append(make_position(mmsi, t, *where, sog=0.0, cog=None, heading=None, nav_status=5))
        t += every
    return out
