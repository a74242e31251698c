"""The `ais-watch` command. Contracts (commands, options, output fields) are in docs/architecture.md."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

from ais_watch import __version__, admin_commands
from ais_watch.alerts import commands as alert_commands
from ais_watch.alerts import incident_commands
from ais_watch.alerts.model import iso
from ais_watch.cli_output import csv_writer, write_items
from ais_watch.clock import ReplayClock
from ais_watch.config import Settings, load_settings
from ais_watch.decode import decoder_options
from ais_watch.errors import AisWatchError
from ais_watch.logs import configure as configure_logging
from ais_watch.model import IngestStats, parse_iso_time
from ais_watch.runtime import running_pipeline, tune_garbage_collector
from ais_watch.sources.csv_import import CsvOptions, parse_columns
from ais_watch.sources.replay import FORMATS, check_files, replay_paths, start_decoding
from ais_watch.track_format import POINT_FIELDS, marked_feature, split_marked, track_point
from ais_watch.watchlist import commands as watchlist_commands

log = logging.getLogger("ais_watch")

TRACK_FIELDS = ("mmsi", *POINT_FIELDS)


def parse_time(text: str) -> datetime:
    """ISO 8601; UTC when no offset is given."""
    try:
        return parse_iso_time(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from err


class CliParser(argparse.ArgumentParser):
    """Bad input is one line naming what is wrong (argparse would print the whole usage before it, which
    for `alerts --kind` is a screenful); --help still shows the usage. Subcommands inherit this class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="ais-watch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ais-watch {__version__}")
    parser.add_argument("--db", help="database URL (default: AIS_WATCH_DB, else sqlite:///./ais-watch.db)")
    parser.add_argument("--config", help="TOML config file (default: AIS_WATCH_CONFIG)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    # Its subcommands are CliParsers too (argparse makes them of the parser's class); typed as plain
    # parsers for the modules that add their own.
    sub = cast("argparse._SubParsersAction[argparse.ArgumentParser]",
               parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))

    serve = sub.add_parser("serve", help="the service: sources, pipeline, store")
    serve.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)

    replay = sub.add_parser("replay", help="recorded traffic through the pipeline, on event time")
    replay.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    replay.add_argument("--format", choices=FORMATS, default="auto")
    replay.add_argument("--speed", type=float, default=None,
                        help="times real time (event time); default: as fast as possible")
    replay.add_argument("--notify", action="store_true",
                        help="deliver the alerts the replay raises (and wait, bounded, for them)")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.add_argument("--columns", metavar="FIELD=COLUMN,...",
                        help="CSV: the column of each field, e.g. mmsi=ID,time=ais_pos_timestamp,lat=Lat,"
                        "lon=Lon (fields: mmsi, time, lat, lon, sog, cog, heading, nav_status, name, imo, "
                        "callsign, ship_type, draught, destination, class, to_bow, to_stern, to_port, "
                        "to_starboard); default: the layout the header is recognised as")
    replay.add_argument("--dayfirst", action="store_true", default=None,
                        help="CSV: dates are dd/mm/yyyy (default: the layout's own, else mm/dd/yyyy)")

    track = sub.add_parser("track", help="a vessel's stored positions")
    track.add_argument("vessel", metavar="VESSEL", help="MMSI (9 digits) or IMO:1234567")
    track.add_argument("--since", type=parse_time)
    track.add_argument("--until", type=parse_time)
    track.add_argument("--format", choices=("geojson", "csv", "jsonl", "parquet"), default="jsonl",
                       help="parquet: GeoParquet, one row per position (GeoPandas, QGIS)")
    track.add_argument("--output", metavar="FILE", type=Path,
                       help="write to FILE instead of standard output (parquet is binary: needs a file or "
                       "a pipe)")
    track.add_argument("--all-segments", action="store_true",
                       help="also the positions off the believed track (marked with their anomaly); "
                       "default: the main segment only")

    alert_commands.add_parser(sub, parse_time)
    incident_commands.add_parser(sub, parse_time)
    watchlist_commands.add_parser(sub)

    calls = sub.add_parser("port-calls", help="port calls of every vessel, from the store")
    calls.add_argument("--vessel", metavar="VESSEL", help="MMSI or IMO:1234567")
    calls.add_argument("--port", metavar="NAME", help="port id, name or alias (e.g. Rajin, Najin, kp-rajin)")
    calls.add_argument("--since", type=parse_time)
    calls.add_argument("--until", type=parse_time)
    calls.add_argument("--format", choices=("jsonl", "table"), default="jsonl")

    met = sub.add_parser("encounters", help="encounters (ship-to-ship meetings) of every vessel, from the "
                         "store")
    met.add_argument("--vessel", metavar="VESSEL", help="MMSI or IMO:1234567 (either side of the pair)")
    met.add_argument("--since", type=parse_time, help="those going on at or after this time")
    met.add_argument("--until", type=parse_time, help="those started at or before this time")
    met.add_argument("--format", choices=("jsonl", "table", "csv"), default="jsonl")

    board = sub.add_parser("fleet", help="the fleet board: every watched vessel, its state, last position, "
                           "open alerts and last port call")
    board.add_argument("--sort", choices=("state", "name", "age", "alerts", "severity"), default="state")
    board.add_argument("--order", choices=("asc", "desc"), help="default: the sort's own")
    board.add_argument("--state", metavar="STATES", help="only these, comma-separated: dark, anomalous, "
                       "in_port, at_sea, not_heard")
    board.add_argument("--watch", choices=("listed", "associated"))
    board.add_argument("--format", choices=("jsonl", "table", "csv"), default="jsonl")

    admin_commands.add_parsers(sub, parse_time)

    sub.add_parser("migrate", help="bring the database schema to the latest version")
    maintain = sub.add_parser("maintain", help="run the position maintenance job once: partitions ahead, "
                              "thinning, drops (retention.* settings), replayed days included")
    maintain.add_argument("--dry-run", action="store_true",
                          help="say per day what would be thinned and dropped; change nothing")
    config = sub.add_parser("config", help="settings")
    config.add_argument("action", choices=("show",), help="show: effective settings, secrets masked")
    sub.add_parser("check", help="validate settings, notifiers, geofences and watchlist; reach the database")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(getattr(args, "sub_config", None) or args.config)
        overrides: dict[str, Any] = {}
        if args.db:
            overrides["db"] = args.db
        if args.log_level:
            overrides["log_level"] = args.log_level
        if overrides:
            settings = settings.with_overrides(**overrides)
        level = str(settings["log_level"]).upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise AisWatchError(f"setting 'log_level': expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
        if settings["log_format"] not in ("console", "json"):
            raise AisWatchError("setting 'log_format': expected console or json, "
                                f"got {settings['log_format']!r}")
        configure_logging(level, settings["log_format"])
        code = asyncio.run(_dispatch(args, settings))
    except AisWatchError as err:
        print(f"ais-watch: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `ais-watch track ... | head`: the reader left; that is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        code = 130
    basemap = sys.modules.get("ais_watch.basemap")  # `serve` builds it in a daemon thread
    if basemap is not None:
        basemap.leave_if_building(code)
    return code


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "replay":
        return await cmd_replay(args, settings)
    if args.command == "track":
        if args.output is None:
            return await cmd_track(args, settings, sys.stdout)
        with _output_file(args.output) as out:
            return await cmd_track(args, settings, out)
    if args.command == "serve":
        from ais_watch.serve import cmd_serve

        return await cmd_serve(settings)
    if args.command == "alerts":
        return await alert_commands.run(args, settings, sys.stdout)
    if args.command == "incidents":
        return await incident_commands.run(args, settings, sys.stdout)
    if args.command in ("token", "audit"):
        return await admin_commands.run(args, settings, sys.stdout)
    if args.command == "port-calls":
        return await cmd_port_calls(args, settings, sys.stdout)
    if args.command == "encounters":
        return await cmd_encounters(args, settings, sys.stdout)
    if args.command == "fleet":
        return await cmd_fleet(args, settings, sys.stdout)
    if args.command == "watchlist":
        return await watchlist_commands.run(args, settings, sys.stdout)
    if args.command == "migrate":
        from ais_watch.store.db import open_database

        engine = await open_database(settings["db"])
        await engine.dispose()
        print("database schema is at head")
        return 0
    if args.command == "maintain":
        return await cmd_maintain(args, settings, sys.stdout)
    if args.command == "config":
        print(json.dumps(settings.masked(), indent=2))
        return 0
    if args.command == "check":
        return await cmd_check(settings, sys.stdout)
    raise AssertionError(args.command)


async def cmd_maintain(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """The maintenance job once, replayed days included (the scheduled job leaves them alone): what the
    settings ask for, then a line a day of what was (or, with --dry-run, would be) thinned or dropped."""
    from ais_watch.store.db import open_database
    from ais_watch.store.retention import RetentionPolicy, maintain_positions

    policy = RetentionPolicy.from_settings(settings)
    now = datetime.now(UTC)
    engine = await open_database(settings["db"], migrate_schema=settings["store.auto_migrate"])
    try:
        report = await maintain_positions(engine, policy, now, include_replayed=True, dry_run=args.dry_run)
    finally:
        await engine.dispose()
    out.write(f"position maintenance{' (dry run: nothing changed)' if args.dry_run else ''}: "
              f"{policy.describe(now)}\n")
    if report.days:
        out.write("\n".join(report.table()) + "\n")
    if any(w.replayed for w in report.days):
        out.write("replayed days are thinned and dropped only by `ais-watch maintain`, as here; the "
                  "service's scheduled job leaves them alone\n")
    out.write(f"{report.summary()}\n")
    return 0


async def cmd_check(settings: Settings, out: TextIO) -> int:
    """Everything `serve` would trip over, checked up front; exit 2 naming the first problem."""
    from ais_watch.alerts.notifiers import notifiers_from_settings
    from ais_watch.store.db import open_database, redacted
    from ais_watch.watchlist.store import list_entries
    from ais_watch.zones import ZoneRegistry

    out.write("settings: ok\n")  # load_settings already refused anything wrong
    notifiers = notifiers_from_settings(settings)
    out.write(f"notifiers: {len(notifiers)} ({', '.join(n.name for n in notifiers) or 'none'})\n")
    zones = ZoneRegistry([Path(d) for d in settings["zones.dirs"]]).index
    out.write(f"geofences: {len(zones)} zones, {len(zones.ports())} ports and anchorages\n")
    engine = await open_database(settings["db"])
    try:
        entries = await list_entries(engine)
    finally:
        await engine.dispose()
    out.write(f"database: {redacted(settings['db'])} reachable, schema at head\n")
    out.write(f"watchlist: {len(entries)} entries\n")
    return 0


# ----------------------------------------------------------------------------- replay
def print_summary(stats: IngestStats, elapsed: float, out: TextIO) -> None:
    summary = stats.summary()
    rate = stats.messages / elapsed if elapsed > 0 else 0.0
    print(f"replay finished in {elapsed:.1f}s ({rate:,.0f} messages/s)", file=out)
    for key in ("lines", "messages", "decoded", "other_types", "positions_stored", "statics_stored",
                "vessels", "duplicates_dropped", "out_of_order"):
        print(f"  {key.replace('_', ' '):<18} {summary[key]:>10,}", file=out)
    rejects = summary["rejects"]
    assert isinstance(rejects, dict)
    print(f"  {'rejected':<18} {sum(rejects.values()):>10,}", file=out)
    for reason, count in rejects.items():
        print(f"    {reason:<24} {count:>8,}", file=out)
    flags = summary["flags"]
    assert isinstance(flags, dict)
    for reason, count in flags.items():
        print(f"  flagged {reason:<18} {count:>8,}", file=out)


async def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    if args.speed is not None and args.speed <= 0:
        raise AisWatchError("--speed must be greater than 0")
    csv_options = CsvOptions(parse_columns(args.columns) if args.columns else {}, args.dayfirst)
    check_files(args.paths, args.format, csv_options)  # an unusable file stops it before anything loads
    loop = asyncio.get_running_loop()
    started = loop.time()
    undelivered = 0
    # The first file decodes on the other core while the database opens and the detectors are built.
    options = decoder_options(settings)
    first = start_decoding(args.paths[0], args.format, options, csv_options)
    try:
        async with running_pipeline(settings, ReplayClock(), deliver=args.notify,
                                    event_time_ticks=True, replayed=True) as runtime:
            tune_garbage_collector()
            await replay_paths(args.paths, args.format, runtime.pipeline.submit, runtime.stats,
                               speed=args.speed, decoder_options=options,
                               progress=not args.no_progress and sys.stderr.isatty(),
                               csv_options=csv_options, emit_many=runtime.pipeline.submit_many, first=first)
            await runtime.pipeline.store_alerts()
            if runtime.dispatcher is not None:
                wait = settings["alerts.notify_wait"]
                if not await runtime.dispatcher.drain(wait):
                    undelivered = await runtime.dispatcher.pending_count()
                    log.warning("%d deliveries still pending after %gs; `serve` will deliver them",
                                undelivered, wait)
    finally:
        await first.close()  # replay_paths closed it, unless the start-up failed before
    print_summary(runtime.stats, loop.time() - started, sys.stdout)
    alert_stats = runtime.alerts.stats
    print(f"  {'alerts raised':<18} {sum(alert_stats.raised.values()):>10,}", file=sys.stdout)
    for kind, count in sorted(alert_stats.raised.items()):
        print(f"    {kind:<24} {count:>8,}", file=sys.stdout)
    if args.notify:
        for outcome, count in sorted(alert_stats.deliveries.items()):
            print(f"  deliveries {outcome:<15} {count:>8,}", file=sys.stdout)
        if undelivered:
            print(f"  deliveries pending {undelivered:>8,}", file=sys.stdout)
    return 0


# ------------------------------------------------------------------------------ track
@contextlib.contextmanager
def _output_file(path: Path) -> Iterator[TextIO]:
    """--output FILE, written whole or not at all: a failed export leaves no half file behind."""
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            yield out
        partial.replace(path)
    except OSError as err:
        raise AisWatchError(f"--output {path}: {err.strerror or err}") from err
    finally:
        partial.unlink(missing_ok=True)


async def cmd_track(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ais_watch.store.db import open_database
    from ais_watch.store.queries import resolve_vessel, track

    if args.since and args.until and args.since > args.until:
        raise AisWatchError("--since is after --until")
    if args.format == "parquet" and out.isatty():
        raise AisWatchError("--format parquet is binary: give --output FILE or redirect it to a file")
    engine = await open_database(settings["db"])
    try:
        mmsis, _ = await resolve_vessel(engine, args.vessel)
        rows = track(engine, mmsis, args.since, args.until, all_segments=args.all_segments)
        if args.format == "parquet":
            from ais_watch.track_format import GeoParquetTrack

            parquet = GeoParquetTrack()
            async for row in rows:
                parquet.add(row)
            out.flush()
            out.buffer.write(parquet.to_bytes())
            out.flush()
        elif args.format == "jsonl":
            async for row in rows:
                out.write(json.dumps(_track_row(row)) + "\n")
        elif args.format == "csv":
            write_row = csv_writer(TRACK_FIELDS, out)
            async for row in rows:
                write_row(_track_row(row))
        else:
            json.dump(await _track_geojson(rows), out)
            out.write("\n")
    finally:
        await engine.dispose()
    return 0


def _track_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"mmsi": row["mmsi"], **track_point(row)}


async def _track_geojson(rows: Any) -> dict[str, Any]:
    """One feature per MMSI of its believed positions: a LineString with its times (the 'coordTimes'
    convention), or a Point for a single fix; then each marked position (--all-segments) as a Point."""
    by_mmsi: dict[int, list[dict[str, Any]]] = {}
    async for row in rows:
        by_mmsi.setdefault(row["mmsi"], []).append(track_point(row))
    features, marked_features = [], []
    for mmsi, every in by_mmsi.items():
        points, marked = split_marked(every)
        marked_features += [marked_feature(mmsi, p) for p in marked]
        if not points:
            continue
        coords = [[p["lon"], p["lat"]] for p in points]
        geometry = ({"type": "Point", "coordinates": coords[0]} if len(coords) == 1
                    else {"type": "LineString", "coordinates": coords})
        features.append({"type": "Feature", "geometry": geometry, "properties": {
            "mmsi": mmsi, "start": points[0]["time"], "end": points[-1]["time"],
            "points": len(points), "coordTimes": [p["time"] for p in points],
            "sog": [p["sog"] for p in points], "cog": [p["cog"] for p in points],
            "segments": [p["segment"] for p in points]}})
    return {"type": "FeatureCollection", "features": features + marked_features}


# ------------------------------------------------------------------------- port calls
PORT_CALL_TABLE = ("mmsi", "vessel_name", "port_name", "kind", "arrival", "departure", "evidence")
PORT_CALL_FIELDS = ("mmsi", "imo", "vessel_name", "port_id", "port_name", "country", "kind", "arrival",
                    "departure", "duration_seconds", "evidence", "lat", "lon")


async def cmd_port_calls(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ais_watch.store.db import open_database
    from ais_watch.store.queries import port_call_rows, resolve_vessel
    from ais_watch.zones import ZoneRegistry

    port_ids = None
    if args.port:
        zones = ZoneRegistry([Path(d) for d in settings["zones.dirs"]]).index
        zone = zones.find(args.port)
        if zone is None:
            raise AisWatchError(f"no port or zone called {args.port!r}")
        port_ids = [zone.id]
    engine = await open_database(settings["db"])
    try:
        mmsis = (await resolve_vessel(engine, args.vessel))[0] if args.vessel else None
        rows = await port_call_rows(engine, mmsis=mmsis, port_ids=port_ids, since=args.since,
                                    until=args.until)
    finally:
        await engine.dispose()
    items = [{f: iso(r[f]) if isinstance(r[f], datetime) else r[f] for f in PORT_CALL_FIELDS} for r in rows]
    write_items(items, args.format, PORT_CALL_TABLE, out)
    return 0


# ------------------------------------------------------------------------------------------ encounters
ENCOUNTER_TABLE = ("start", "end", "hours", "mmsi_a", "name_a", "mmsi_b", "name_b", "min_distance_m",
                   "median_speed_kn", "lat", "lon", "shore_distance_nm", "nearest_port")


async def cmd_encounters(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ais_watch.store import encounters
    from ais_watch.store.db import open_database
    from ais_watch.store.queries import resolve_vessel

    if args.since and args.until and args.since > args.until:
        raise AisWatchError("--since is after --until")
    engine = await open_database(settings["db"])
    try:
        mmsis = (await resolve_vessel(engine, args.vessel))[0] if args.vessel else None
        async with engine.connect() as conn:
            rows = await encounters.query(conn, mmsis=mmsis, since=args.since, until=args.until)
    finally:
        await engine.dispose()
    items: list[dict[str, Any]] = [{f: iso(r[f]) if isinstance(r[f], datetime) else r[f]
                                    for f in encounters.FIELDS} for r in rows]
    if args.format == "table":  # for people: hours, and the position at a glance
        items = [{**item, "hours": round(r["duration_seconds"] / 3600, 1), "lat": round(r["lat"], 4),
                  "lon": round(r["lon"], 4)} for item, r in zip(items, rows, strict=True)]
    write_items(items, args.format, ENCOUNTER_TABLE, out, encounters.FIELDS)
    return 0


# ---------------------------------------------------------------------------------------------- fleet
FLEET_TABLE = ("name", "mmsi", "flag", "watch", "state", "age", "place", "open_alerts", "highest_severity",
               "last_port")


async def cmd_fleet(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from ais_watch import fleet
    from ais_watch.store.db import open_database
    from ais_watch.zones import ZoneRegistry

    query = fleet.fleet_query(args.sort, args.order, args.state, args.watch)
    places = fleet.places_of(ZoneRegistry([Path(d) for d in settings["zones.dirs"]]).index)
    engine = await open_database(settings["db"])
    try:
        rows = await fleet.fleet_board(engine, datetime.now(UTC), places, query)
    finally:
        await engine.dispose()
    if args.format == "jsonl":
        write_items(rows, "jsonl", (), out)
        return 0
    items = [fleet.flat(row) for row in rows]
    if args.format == "table":  # for people: the state and the age in words
        items = [{**item, "state": fleet.state_text(row["state"]), "age": fleet.age_text(item["age_seconds"])}
                 for item, row in zip(items, rows, strict=True)]
    write_items(items, args.format, FLEET_TABLE, out, fleet.FLAT_FIELDS)
    return 0
