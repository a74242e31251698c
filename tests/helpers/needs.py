"""What a test needs from outside its process (the PostgreSQL named by AIS_WATCH_TEST_PG, Chromium), and
what it does when that is missing.

Locally a missing PostgreSQL or Chromium skips with the reason; under CI=true it fails, because a green
run that silently skipped it would claim what it never checked.
"""

from __future__ import annotations

import asyncio
import os
from typing import NoReturn

import pytest

PG_URL = os.environ.get("AIS_WATCH_TEST_PG", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(what: str, why: str) -> NoReturn:
    """Skip with the reason, or fail under CI."""
    if IN_CI:
        pytest.fail(f"CI=true but {what}: {why}")
    pytest.skip(f"{what}: {why}")


async def _reset_schema(url: str) -> None:
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
        require("no PostgreSQL", "set AIS_WATCH_TEST_PG=postgresql://postgres@127.0.0.1:5432/test")
    try:
        asyncio.run(_reset_schema(PG_URL))
    except Exception as err:  # connection refused, auth, timeout: all mean "not available"
        require("PostgreSQL unreachable", f"{PG_URL}: {err!r}")
    return PG_URL
