"""Maritime Identification Digits (MID): the flag state an MMSI claims.

The MID table (ITU MARS, ITU-R M.585 annex) lives in ``ais_watch/data/mid.csv`` and maps each MID to the
ISO 3166-1 alpha-2 code of the flag state or territory. The flag is only what the MMSI claims: it says
nothing of the ship's real registry, which can differ (stale or spoofed MMSIs, flag hopping).
"""

import csv
import io
from functools import cache
from importlib.resources import files

__all__ = ["country_name", "flag_of", "mid_of"]

_MAX_MMSI = 999_999_999


@cache
def _tables() -> tuple[dict[int, str], dict[str, str]]:
    """Load ``mid.csv`` once: (MID -> ISO alpha-2, ISO alpha-2 -> country name)."""
    text = files("ais_watch.data").joinpath("mid.csv").read_text(encoding="utf-8")
    flags: dict[int, str] = {}
    names: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        iso2 = row["iso2"].strip().upper()
        flags[int(row["mid"])] = iso2
        names.setdefault(iso2, row["country"].strip())
    return flags, names


def _as_mid(digits: str) -> int | None:
    """A three-digit MID candidate; MIDs always start with 2 to 7."""
    return int(digits) if digits[0] in "234567" else None


def mid_of(mmsi: int) -> int | None:
    """The MID embedded in ``mmsi`` per ITU-R M.585, or None when it carries none.

    Ship station MIDXXXXXX; group of ships 0MIDXXXXX; coast station 00MIDXXXX; SAR aircraft 111MIDXXX;
    handheld / diver radio 8MIDXXXXX; craft associated with a parent ship 98MIDXXXX; AIS AtoN 99MIDXXXX.
    AIS-SART (970), MOB (972), EPIRB-AIS (974), other 9/1 prefixes and numbers outside 0..999999999 have
    no MID. The result is structural: it need not be an allocated MID (see ``flag_of``).
    """
    if isinstance(mmsi, bool) or not 0 <= mmsi <= _MAX_MMSI:
        return None
    s = f"{mmsi:09d}"
    if s[0] in "234567":
        return int(s[:3])
    if s.startswith("00"):
        return _as_mid(s[2:5])
    if s[0] == "0":
        return _as_mid(s[1:4])
    if s.startswith("111"):
        return _as_mid(s[3:6])
    if s[0] == "8":
        return _as_mid(s[1:4])
    if s.startswith(("98", "99")):
        return _as_mid(s[2:5])
    return None


def flag_of(mmsi: int) -> str | None:
    """ISO 3166-1 alpha-2 code of the flag state ``mmsi`` claims, None if no MID or an unallocated one."""
    mid = mid_of(mmsi)
    if mid is None:
        return None
    return _tables()[0].get(mid)


def country_name(iso2: str) -> str | None:
    """English short name of a flag state / territory in the MID table, None if it has no MID."""
    return _tables()[1].get(iso2.strip().upper())
