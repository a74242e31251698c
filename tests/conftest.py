"""Shared fixtures, and the three kinds of test.

Every test is exactly one of these (registered in pyproject.toml):

- `unit`: pure, in this process: no database of any kind (SQLite included: opening one runs the
  migrations, about a second a test), no socket (loopback included), no child or worker process, no
  browser. Reading files and writing under tmp_path is fine. `make test-fast` runs only these, in seconds.
- `integration`: a real database (SQLite, and PostgreSQL through `db_url`), real sockets on 127.0.0.1,
  child processes (`serve`, the CLI, bench scripts, wheel builds).
- `browser`: headless Chromium driving the dashboard.

A module whose tests are all of one kind says so once (`pytestmark = pytest.mark.unit`); a mixed module
marks each test. So that the marks cannot drift from what the tests do:
- collection fails if a test has none of the kinds or more than one, or if a `unit` test asks for a
  fixture that opens a database or a server (INTEGRATION_FIXTURES);
- while a `unit` test runs, connecting or binding a socket, starting a process or opening SQLite fails
  it, saying to mark it `integration` (even where the code under test catches the error).

`db_url` runs a test on SQLite and on the PostgreSQL named by AIS_WATCH_TEST_PG; locally a missing
PostgreSQL skips those cases with the reason, under CI=true it fails them (tests/helpers/needs.py).

The fuzz tests (tests/test_fuzz_*.py, Hypothesis) run under the profile HYPOTHESIS_PROFILE names: "ci",
the default (`make test`, CI), 200 cases a property, derandomized so every run tries the same cases;
"quick" (`make test-fast`), 25 of them; "fuzz" (`make fuzz`), 5,000 with fresh randomness, failures
kept in .hypothesis/ and tried first next time. The cases each property ran, and their rate, are
printed at the end.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.config import SETTINGS
from tests.helpers.db import engine_on
from tests.helpers.fuzz_cases import case_rate_lines
from tests.helpers.needs import pg_url_or_skip
from tests.helpers.receiver import Receiver, receiver_server

# A case is a stream of at most a few dozen lines: a deadline of seconds only catches a decoder that loops.
settings.register_profile("ci", max_examples=200, derandomize=True, database=None, deadline=2000,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=5_000, deadline=2000, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("quick", parent=settings.get_profile("ci"), max_examples=25)  # `make test-fast`
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

KINDS = ("unit", "integration", "browser")
# Fixtures that open a database or listen on a socket: a unit test asking for one is not a unit test.
INTEGRATION_FIXTURES = frozenset({"db_url", "engine", "pg_url", "receiver"})


# ------------------------------------------------------------------------------------- the kinds
@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: a test without its mark must not hide there
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = []
    for item in items:
        kinds = sorted({mark.name for mark in item.iter_markers() if mark.name in KINDS})
        if len(kinds) != 1:
            problems.append(f"{item.nodeid}: marked {kinds or 'with none'}; needs exactly one of {KINDS}")
        elif kinds == ["unit"] and (used := INTEGRATION_FIXTURES & set(item.fixturenames)):
            problems.append(f"{item.nodeid}: marked unit but uses {sorted(used)}; mark it integration")
    if problems:
        raise pytest.UsageError("tests whose kind is wrong (see tests/conftest.py):\n  "
                                + "\n  ".join(problems))


@pytest.fixture(autouse=True)
def _unit_tests_stay_in_process(request: pytest.FixtureRequest,
                                monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What makes a test integration fails a unit test, instead of it quietly growing slow. Each refusal
    raises where it happens and is noted: code that turns the error into its own (open_database, the CLI)
    cannot hide it, the test fails at teardown all the same."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    refused: list[str] = []

    def refuse(what: str) -> Callable[..., NoReturn]:
        def refused_call(*_args: Any, **_kwargs: Any) -> NoReturn:
            refused.append(what)
            raise AssertionError(f"a unit test may not {what}: mark it integration (tests/conftest.py)")
        return refused_call

    monkeypatch.setattr(socket.socket, "connect", refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "bind", refuse("listen on a socket"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("start a process"))
    monkeypatch.setattr(os, "fork", refuse("start a process"))  # multiprocessing's workers
    monkeypatch.setattr(sqlite3, "connect", refuse("open a database"))  # aiosqlite's too
    yield
    if refused:
        pytest.fail(f"a unit test may not {' or '.join(sorted(set(refused)))}: mark it integration "
                    "(tests/conftest.py)", pytrace=False)


# ---------------------------------------------------------------------------------- every test
@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from AIS_WATCH_* variables: a developer's own must not change what any test sees."""
    monkeypatch.delenv("AIS_WATCH_CONFIG", raising=False)
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env_var, raising=False)


# ------------------------------------------------------------------------------------ databases
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return pg_url_or_skip()


@pytest.fixture
def pg_url() -> str:
    """PostgreSQL only, for what SQLite does not have (partitions, advisory locks, LISTEN/NOTIFY)."""
    return pg_url_or_skip()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on db_url, migrated to head."""
    async with engine_on(db_url) as eng:
        yield eng


# ------------------------------------------------------------------------------------ receivers
@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A scripted loopback webhook / Slack receiver (tests/helpers/receiver.py)."""
    async with receiver_server() as rec:
        yield rec


# ---------------------------------------------------------------------------------------- fuzzing
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The cases each fuzz property ran and how fast (tests/helpers/fuzz.py counts them)."""
    lines = case_rate_lines()
    if lines:
        profile = settings.get_current_profile_name()
        terminalreporter.write_sep("-", f"fuzz cases (hypothesis profile {profile})")
        for line in lines:
            terminalreporter.write_line(line)
