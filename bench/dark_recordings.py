"""went_dark under the old and the new (reception-aware) dark rules, on the bundled real recordings.

For each recording in ais_watch/data/demo/ (see SOURCES.md there), every MMSI in it goes on the
watchlist and the recording is replayed with `ais-watch replay` (no --notify) into a fresh temporary
SQLite database per run, with the dark threshold given (1 hour by default, the issue's):

- old: `reception.enabled = false`, `dark.cadence_factor = 0`, `dark.satellite_threshold` = the threshold
  (with all three the rules are the plain threshold less whole-feed outages);
- new: the defaults (station and area outages are no silence; cadence and satellite areas raise the
  threshold, capped at `dark.max_threshold`).

When the old rules raise a went_dark the new ones do not, three more runs say why, each turning on one
part of the new rules alone: reception outages only; cadence only; reception with satellite areas (an
area's kind is learned by the reception step, so satellite areas cannot run without it). A suppressed
alert is put down to the part whose run alone suppresses it (satellite areas: the reception run raises
it, the reception + satellite run does not); to "several" when more than one does; and is
"unattributed" when none does alone (only the parts together). With reception, the reception_loss of
the station (or area) the ship was last heard through is named. For the went_dark both raise, the
script says whether other ships were heard within 10 nm of its last position after it fell silent (the
receiver still covered the spot: a silence of its own) or not (it may have left the coverage).

Settings reach the runs as environment variables (AIS_WATCH_DARK_THRESHOLD etc.); any AIS_WATCH_* of the
caller's environment is left out so the figures do not depend on it. Alerts are read back with
`ais-watch alerts --format jsonl`. Times are wall-clock seconds of each replay (the machine is shared:
compare runs of the same invocation).

    python bench/dark_recordings.py [--threshold-hours 1] [--recording NAME ...] [--path FILE ...]
                                    [--verbose] [--json FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from math import cos, floor, radians
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ais_watch.geo import distance_nm
from ais_watch.model import IngestStats, PositionReport, mmsi_is_valid
from ais_watch.sources.replay import detect_format, file_reports

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "ais_watch" / "data" / "demo"
RECORDINGS = ("dma-tagblock-pghp-2013.nmea.gz", "amsa-terrestrial-2012.nmea.gz",
              "amsa-satellite-trailing-ms.nmea")
NEARBY_NM = 10.0  # "heard near it afterwards": a terrestrial receiver's reach at sea is tens of nm
CELL_DEGREES = 1.0  # reception.cell_degrees, left at its default in every run


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    label: str
    reception: bool
    cadence: bool
    satellite: bool

    def env(self, threshold_hours: float) -> dict[str, str]:
        """The settings of this run; the parts switched off are set as the issue says turns them off."""
        env = {"AIS_WATCH_DARK_THRESHOLD": repr(threshold_hours),
               "AIS_WATCH_RECEPTION_ENABLED": "true" if self.reception else "false"}
        if not self.cadence:
            env["AIS_WATCH_DARK_CADENCE_FACTOR"] = "0"
        if not self.satellite:
            env["AIS_WATCH_DARK_SATELLITE_THRESHOLD"] = repr(threshold_hours)
        return env


OLD = Variant("old", "old rules", reception=False, cadence=False, satellite=False)
NEW = Variant("new", "new rules (defaults)", reception=True, cadence=True, satellite=True)
RECEPTION_ONLY = Variant("reception", "reception outages only", reception=True, cadence=False,
                         satellite=False)
CADENCE_ONLY = Variant("cadence", "cadence only", reception=False, cadence=True, satellite=False)
RECEPTION_SATELLITE = Variant("satellite", "reception + satellite areas", reception=True, cadence=False,
                              satellite=True)
ATTRIBUTION = (RECEPTION_ONLY, CADENCE_ONLY, RECEPTION_SATELLITE)
CAUSES = ("station or area in outage", "cadence", "satellite-only area", "several (each alone)",
          "unattributed (only together)")


@dataclass(slots=True)
class Recording:
    """What the recording holds, decoded by ais-watch's own decoder (the replay's code path)."""

    path: Path
    source: str
    mmsis: set[int] = field(default_factory=set)
    times: list[datetime] = field(default_factory=list)  # every report's event time, sorted
    # every position, sorted by time: (time, mmsi, lat, lon), for "who was heard near it afterwards"
    positions: list[tuple[datetime, int, float, float]] = field(default_factory=list)

    @property
    def watchable(self) -> list[int]:
        return sorted(m for m in self.mmsis if mmsi_is_valid(m))

    def bulk(self) -> tuple[datetime, datetime] | None:
        """The event times between which 98% of its reports fall (a few stray clocks aside)."""
        t = self.times
        return (t[len(t) // 100], t[min(len(t) - 1, len(t) * 99 // 100)]) if t else None

    def span(self) -> str:
        t, bulk = self.times, self.bulk()
        if bulk is None:
            return "no reports"
        lo, hi = bulk
        return (f"event time {t[0]:%Y-%m-%d %H:%M} to {t[-1]:%H:%M} ({_hours(t[-1] - t[0])}); "
                f"98% of reports within {lo:%H:%M}-{hi:%H:%M} ({_hours(hi - lo)})")

    def heard_near(self, mmsi: int, lat: float, lon: float, after: datetime) -> int:
        """Other vessels with a position within NEARBY_NM of (lat, lon) after `after`."""
        start = bisect_right(self.positions, (after, 10**10, 0.0, 0.0))
        dlat = NEARBY_NM / 60
        dlon = NEARBY_NM / 60 / max(cos(radians(lat)), 0.01)
        near = {m for _, m, la, lo in self.positions[start:]
                if m != mmsi and abs(la - lat) <= dlat and abs(lo - lon) <= dlon
                and distance_nm(lat, lon, la, lo) <= NEARBY_NM}
        return len(near)


def read_recording(path: Path) -> Recording:
    source = f"replay:{path.name}"  # the source name `ais-watch replay` gives a file's reports
    found = Recording(path, source)
    for _, reports in file_reports(path, detect_format(path), source, {}, IngestStats()):
        for report in reports:
            found.mmsis.add(report.mmsi)
            found.times.append(report.time)
            if isinstance(report, PositionReport):
                found.positions.append((report.time, report.mmsi, report.lat, report.lon))
    found.times.sort()
    found.positions.sort()
    return found


def write_watchlist(recording: Recording, target: Path) -> int:
    """The watchlist CSV of docs/architecture.md, one row per MMSI the importer accepts."""
    with target.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["name", "imo", "mmsi", "flag", "reason", "source"])
        for mmsi in recording.watchable:
            out.writerow(["", "", f"{mmsi:09d}", "", "in the recording", "bench/dark_recordings.py"])
    return len(recording.watchable)


# ----------------------------------------------------------------------------------------- runs
@dataclass(slots=True)
class Run:
    variant: Variant
    seconds: float
    alerts: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["kind"] == kind]

    def went_dark(self) -> dict[tuple[int, str], dict[str, Any]]:
        """Each went_dark by the silence it reports: the vessel and when it was last heard."""
        return {silence_key(a): a for a in self.of_kind("went_dark")}


def silence_key(alert: dict[str, Any]) -> tuple[int, str]:
    return int(alert["mmsi"]), str(alert["details"]["last_seen"])


def ais_watch(db: str, *args: str, env: dict[str, str], timeout: float) -> str:
    cmd = [sys.executable, "-m", "ais_watch", "--db", db, "--log-level", "WARNING", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def replay(recording: Recording, watchlist: Path, variant: Variant, threshold_hours: float,
           workdir: Path, timeout: float) -> Run:
    """One run in a fresh database: the watchlist imported, the recording replayed, alerts read back."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIS_WATCH_")}
    env = {**base, **variant.env(threshold_hours)}
    db_path = workdir / f"{recording.path.name}-{variant.name}.db"
    db_path.unlink(missing_ok=True)
    db = f"sqlite:///{db_path}"
    ais_watch(db, "watchlist", "import", str(watchlist), env=env, timeout=timeout)
    start = time.perf_counter()
    ais_watch(db, "replay", "--no-progress", str(recording.path), env=env, timeout=timeout)
    seconds = time.perf_counter() - start
    out = ais_watch(db, "alerts", "--format", "jsonl", env=env, timeout=timeout)
    return Run(variant, seconds, [json.loads(line) for line in out.splitlines() if line.strip()])


# ------------------------------------------------------------------------------------ attribution
def area_label(lat: float, lon: float) -> str:
    """The label the reception step gives the grid cell of (lat, lon) (its south-west corner)."""
    south, west = floor(lat / CELL_DEGREES) * CELL_DEGREES, floor(lon / CELL_DEGREES) * CELL_DEGREES
    return (f"{abs(south):g}°{'N' if south >= 0 else 'S'} "
            f"{abs(west):g}°{'E' if west >= 0 else 'W'}")


def covering_loss(alert: dict[str, Any], run: Run, source: str) -> dict[str, Any] | None:
    """The reception_loss of the station the ship was last heard through (or else the area it was
    last in) that began at or after it was last heard, if the run raised one."""
    station = alert["details"].get("last_station")
    place = (f"station {station} ({source})" if station is not None
             else f"area {area_label(alert['lat'], alert['lon'])} ({source})")
    last_seen = datetime.fromisoformat(alert["details"]["last_seen"])
    found = [loss for loss in run.of_kind("reception_loss")
             if loss["place"] == place and datetime.fromisoformat(loss["details"]["since"]) >= last_seen]
    return min(found, key=lambda loss: datetime.fromisoformat(loss["details"]["since"])) if found else None


@dataclass(slots=True)
class Suppressed:
    alert: dict[str, Any]
    cause: str
    loss: dict[str, Any] | None  # the reception_loss covering it, if the cause includes reception


def attribute(suppressed: list[dict[str, Any]], runs: dict[str, Run], source: str) -> list[Suppressed]:
    out = []
    raised = {name: run.went_dark() for name, run in runs.items()}
    for alert in suppressed:
        key = silence_key(alert)
        causes = []
        if key not in raised[RECEPTION_ONLY.name]:
            causes.append(CAUSES[0])
        if key not in raised[CADENCE_ONLY.name]:
            causes.append(CAUSES[1])
        if key in raised[RECEPTION_ONLY.name] and key not in raised[RECEPTION_SATELLITE.name]:
            causes.append(CAUSES[2])
        cause = causes[0] if len(causes) == 1 else CAUSES[3] if causes else CAUSES[4]
        loss = covering_loss(alert, runs[RECEPTION_ONLY.name], source) if CAUSES[0] in causes else None
        out.append(Suppressed(alert, cause if len(causes) <= 1 else f"{cause}: {' + '.join(causes)}", loss))
    return out


# ------------------------------------------------------------------------------------------ report
@dataclass(slots=True)
class Result:
    name: str
    vessels: int
    watched: int
    span: str  # how long 98% of its reports span
    old: int
    new: int
    new_only: int
    causes: Counter[str]
    still_near: int  # still raised, other ships heard near its last position afterwards
    still_alone: int  # still raised, nobody heard near it afterwards
    reception_loss: int
    seconds: dict[str, float]


def _hours(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def describe(alert: dict[str, Any]) -> str:
    d = alert["details"]
    where = d.get("last_station") or area_label(alert["lat"], alert["lon"])
    return (f"{alert['mmsi']} last heard {d['last_seen']} at {alert['lat']:.4f},{alert['lon']:.4f} "
            f"({where}), silent {d['silent_seconds'] / 60:.0f} min when raised, sog {d.get('last_sog')}")


def study(recording: Recording, threshold_hours: float, workdir: Path, timeout: float,
          verbose: bool) -> Result:
    name = recording.path.name
    watchlist = workdir / f"{name}-watchlist.csv"
    watched = write_watchlist(recording, watchlist)
    print(f"\n{name}: {len(recording.mmsis):,} vessels ({watched:,} on the watchlist; the importer refuses "
          f"invalid MMSIs), {recording.span()}")
    runs = {v.name: replay(recording, watchlist, v, threshold_hours, workdir, timeout) for v in (OLD, NEW)}
    old, new = runs[OLD.name].went_dark(), runs[NEW.name].went_dark()
    suppressed = [a for k, a in sorted(old.items()) if k not in new]
    new_only = [a for k, a in sorted(new.items()) if k not in old]
    if suppressed:  # only then is there anything to attribute
        for variant in ATTRIBUTION:
            runs[variant.name] = replay(recording, watchlist, variant, threshold_hours, workdir, timeout)
    attributed = attribute(suppressed, runs, recording.source) if suppressed else []
    causes = Counter(s.cause.split(":")[0] for s in attributed)

    still = [a for k, a in sorted(new.items()) if k in old]
    near = {silence_key(a): recording.heard_near(int(a["mmsi"]), a["lat"], a["lon"],
                                                 datetime.fromisoformat(a["details"]["last_seen"]))
            for a in still}
    still_near = sum(1 for n in near.values() if n)
    losses = runs[NEW.name].of_kind("reception_loss")

    print(f"  {'':<46}{'old':>7}{'new':>7}")
    print(f"  {'went_dark':<46}{len(old):>7,}{len(new):>7,}")
    for kind in ("reception_loss", "reception_restored"):
        print(f"  {kind:<46}{len(runs[OLD.name].of_kind(kind)):>7,}{len(runs[NEW.name].of_kind(kind)):>7,}")
    print(f"  went_dark the new rules leave out: {len(suppressed):,}")
    for cause in CAUSES:
        print(f"    {cause:<44}{causes[cause]:>7,}")
    print(f"  went_dark both raise: {len(still):,}")
    print(f"    {'others heard within 10 nm of it afterwards':<44}{still_near:>7,}")
    print(f"    {'nobody heard within 10 nm of it afterwards':<44}{len(still) - still_near:>7,}")
    if new_only:
        print(f"  went_dark only the new rules raise: {len(new_only):,} (unexpected: see --verbose)")
    print("  replay wall time: "
          + ", ".join(f"{run.variant.label} {run.seconds:.1f}s" for run in runs.values()))

    if verbose:
        for s in attributed:
            loss = s.loss
            covered = (f"; reception_loss #{loss['id']} {loss['place']} since {loss['details']['since']} "
                       f"({loss['details']['reason']})" if loss is not None
                       else "; NO reception_loss of its station or area found" if CAUSES[0] in s.cause
                       else "")
            print(f"    left out [{s.cause}] {describe(s.alert)}{covered}")
        for a in still:
            print(f"    both [{near[silence_key(a)]} others near after] {describe(a)}")
        for a in new_only:
            print(f"    new only {describe(a)}")
        for loss in losses:
            d = loss["details"]
            print(f"    reception_loss #{loss['id']} {loss['place']} since {d['since']} ({d['reason']}), "
                  f"{d['vessels_last_heard']} vessels last heard there, usual {d['usual_per_window']}/window")
    bulk = recording.bulk()
    return Result(name, len(recording.mmsis), watched, _hours(bulk[1] - bulk[0]) if bulk else "-",
                  len(old), len(new), len(new_only), causes, still_near, len(still) - still_near,
                  len(losses), {run.variant.name: run.seconds for run in runs.values()})


def markdown(results: list[Result], threshold_hours: float) -> str:
    """The table for the README."""
    head = ("| recording | 98% of reports within | vessels | went_dark old | went_dark new "
            "| left out: outage / cadence / satellite area / several / unattributed "
            "| both raise (others heard near after / nobody) | reception_loss (new) |")
    lines = [f"dark.threshold = {threshold_hours:g} h", "", head, "|---|---:|---:|---:|---:|---|---|---:|"]
    for r in results:
        left = " / ".join(str(r.causes[c]) for c in CAUSES)
        both = r.old - sum(r.causes.values())
        lines.append(f"| {r.name} | {r.span} | {r.vessels:,} | {r.old:,} | {r.new:,} | {left} | "
                     f"{both:,} ({r.still_near:,} / {r.still_alone:,}) | {r.reception_loss:,} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold-hours", type=float, default=1.0,
                        help="dark.threshold of every run (default 1 h, the issue's)")
    parser.add_argument("--recording", action="append", choices=RECORDINGS,
                        help="only this bundled recording (repeatable; default: all three)")
    parser.add_argument("--path", action="append", type=Path, default=[],
                        help="another recording (any format `ais-watch replay` reads; repeatable)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per ais-watch command")
    parser.add_argument("--verbose", action="store_true", help="every alert behind the counts")
    parser.add_argument("--json", type=Path,
                        help="also write the figures here (JSON, one object per recording)")
    args = parser.parse_args()
    if not args.threshold_hours >= 0.01:
        parser.error("--threshold-hours must be at least 0.01 (the setting's minimum)")
    print(f"went_dark, old rules vs new, dark.threshold = {args.threshold_hours:g} h, every vessel watched")
    results = []
    with tempfile.TemporaryDirectory(prefix="dark-recordings-") as tmp:
        paths = [DEMO / name for name in args.recording or ([] if args.path else RECORDINGS)] + args.path
        for path in paths:
            results.append(study(read_recording(path), args.threshold_hours, Path(tmp), args.timeout,
                                 args.verbose))
    print("\n" + markdown(results, args.threshold_hours))
    if args.json is not None:
        args.json.write_text(json.dumps([{**asdict(r), "causes": {c: r.causes[c] for c in CAUSES}}
                                         for r in results], indent=2) + "\n")
    totals: defaultdict[str, float] = defaultdict(float)
    for r in results:
        for variant, seconds in r.seconds.items():
            totals[variant] += seconds
    print("\nreplay wall time, all recordings: " + ", ".join(f"{k} {v:.1f}s" for k, v in totals.items()))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"benchmark took {time.perf_counter() - start:.0f}s")
