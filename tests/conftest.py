"""Shared fixtures. `db_url` runs a test on SQLite and on the PostgreSQL named by AIS_WATCH_TEST_PG.

Locally a missing PostgreSQL skips those cases with the reason; under CI=true it fails them, because a
green run that silently skipped PostgreSQL would claim what it never checked.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ais_watch.config import SETTINGS

PG_URL = os.environ.get("AIS_WATCH_TEST_PG", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent
DEMO_DATA = REPO / "ais_watch" / "data" / "demo"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _require(what: str, why: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {what}: {why}")
    pytest.skip(f"{what}: {why}")


async def _reset_pg_schema(url: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncio.wait_for(asyncpg.connect(dsn), timeout=5)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def pg_url_or_skip() -> str:
    """The test PostgreSQL URL with an empty schema, or skip (fail under CI) with the reason."""
    if not PG_URL:
        _require("no PostgreSQL", "set AIS_WATCH_TEST_PG=postgresql://postgres@127.0.0.1:5432/test")
    try:
        asyncio.run(_reset_pg_schema(PG_URL))
    except Exception as err:  # connection refused, auth, timeout: all mean "not available"
        _require("PostgreSQL unreachable", f"{PG_URL}: {err!r}")
    return PG_URL


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from AIS_WATCH_* variables: a developer's own must not change what any test sees."""
    monkeypatch.delenv("AIS_WATCH_CONFIG", raising=False)
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env_var, raising=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return pg_url_or_skip()
