"""Shared fixtures.

`db_url` runs a test on SQLite and on the PostgreSQL named by AIS_WATCH_TEST_PG; locally a missing
PostgreSQL skips those cases with the reason, under CI=true it fails them (tests/helpers/needs.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ais_watch.config import SETTINGS
from tests.helpers.db import engine_on
from tests.helpers.needs import pg_url_or_skip
from tests.helpers.receiver import Receiver, receiver_server


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
