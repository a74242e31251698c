"""What more than one test module needs, one concern a module. Test modules import from here, never from
each other; fixtures built on these live in tests/conftest.py.

- paths: the repository, the bundled demo data, the test fixtures' folder.
- needs: the PostgreSQL named by AIS_WATCH_TEST_PG (or Chromium), or skip (fail under CI=true) with the
  reason.
- db: an engine on a migrated database, rows read back from it, positions written straight into it.
- alerts: the alerts and the outbox (deliveries, attempts) as the store left them.
- pipeline: a pipeline with detector stages on a real store, started and closed around a test.
- waiting: polling for a condition with a deadline.
- receiver: a loopback HTTP server standing in for Slack and webhook receivers.
- serve: `python -m ais_watch serve` and the CLI as child processes, the NMEA feed they read, the API.
- delivery: a serve child delivering to the receiver, and the exactly-once check.
- reports: PositionReport / StaticReport factories.
- ports: ports as the dark rules see them.
- nmea: NMEA sentences and tag blocks with correct checksums, pyais-encoded messages.
- aisstream: aisstream.io JSON messages as its websocket sends them.
- cli: running `ais_watch.cli.main` in-process and reading what it printed.
"""
