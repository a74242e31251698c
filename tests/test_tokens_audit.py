"""Tokens an admin can manage (list, revoke, expiry; through the CLI and the API), a revoked or expired
token refused at once, on an open live websocket too, and the audit log of every change."""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, test_utils
from sqlalchemy import insert, update

from ais_watch.alerts.model import AlertDraft
from ais_watch.alerts.store import AlertStore
from ais_watch.api.app import create_app
from ais_watch.api.live import LiveHub
from ais_watch.api.tokens import TokenError, create_token, parse_expiry, revoke_token
from ais_watch.store.db import open_database
from ais_watch.store.schema import api_tokens, audit_log
from ais_watch.zones import ZoneRegistry
from tests.helpers.cli import cli, jsonl
from tests.helpers.db import engine_on

LIMIT = 60
T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> & \"desk\""
ANGARA = 273111111


def login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# ---------------------------------------------------------------------------------------------- CLI
@pytest.mark.integration
def test_tokens_through_the_cli_list_revoke_expiry_and_their_audit(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--db", db_url)
    code, secret, err = cli(capsys, *db, "token", "create", "--role", "operator", "--name", "wall",
                            "--expires", "90d")
    assert code == 0, err
    secret = secret.strip()
    assert len(secret) >= 40
    code, _, err = cli(capsys, *db, "token", "create", "--role", "viewer", "--name", "wall")
    assert code == 2 and "already named 'wall'" in err and len(err.strip().splitlines()) == 1
    assert cli(capsys, *db, "token", "create", "--role", "viewer", "--name", "desk")[0] == 0

    code, table, _ = cli(capsys, *db, "token", "list")
    assert code == 0 and secret not in table
    header = table.splitlines()[0]
    assert header.split()[:4] == ["id", "name", "role", "state"]
    code, out, _ = cli(capsys, *db, "token", "list", "--format", "jsonl")
    listed = {t["name"]: t for t in jsonl(out)}
    assert set(listed) == {"wall", "desk"} and secret not in out and "token_hash" not in out
    wall = listed["wall"]
    assert wall["role"] == "operator" and wall["state"] == "active" and wall["last_used_at"] is None
    expires = datetime.fromisoformat(wall["expires_at"])
    assert timedelta(days=89, hours=23) < expires - datetime.now(UTC) <= timedelta(days=90)
    assert listed["desk"]["expires_at"] is None

    code, out, err = cli(capsys, *db, "token", "revoke", "wall")
    assert code == 0, err
    assert json.loads(out)["state"] == "revoked"
    code, _, err = cli(capsys, *db, "token", "revoke", "wall")
    assert code == 2 and "already revoked" in err
    code, _, err = cli(capsys, *db, "token", "revoke", "nobody")
    assert code == 2 and "no token named 'nobody'" in err
    code, _, err = cli(capsys, *db, "token", "revoke", str(listed["desk"]["id"]))
    assert code == 0, err
    # The name is free again once its token is revoked.
    assert cli(capsys, *db, "token", "create", "--role", "viewer", "--name", "wall")[0] == 0
    code, out, _ = cli(capsys, *db, "token", "list", "--active", "--format", "jsonl")
    assert [(t["name"], t["state"]) for t in jsonl(out)] == [("wall", "active")]

    for bad, says in (("yesterday", "neither a duration"), ("2001-01-01", "not in the future"),
                      ("99999d", "at most 10 years")):
        code, _, err = cli(capsys, *db, "token", "create", "--role", "viewer", "--expires", bad)
        assert code == 2 and says in err and "Traceback" not in err, (bad, err)
    code, _, err = cli(capsys, *db, "token", "create", "--role", "viewer", "--name", "12")
    assert code == 2 and "would read as a token id" in err

    code, out, _ = cli(capsys, *db, "audit", "--format", "jsonl")
    assert code == 0
    entries = jsonl(out)
    assert [e["action"] for e in entries] == ["token.create", "token.revoke", "token.revoke", "token.create",
                                              "token.create"]  # newest first; refusals leave nothing
    assert {(e["actor"], e["via"]) for e in entries} == {(login(), "cli")}
    assert {e["origin"] for e in entries} == {f"{login()}@{socket.gethostname()}"}
    assert entries[1]["details"]["name"] == "desk" and entries[2]["target"] == f"token {wall['id']}"
    code, out, _ = cli(capsys, *db, "audit", "--action", "token.revoke", "--format", "jsonl")
    assert [e["details"]["name"] for e in jsonl(out)] == ["desk", "wall"]
    code, table, _ = cli(capsys, *db, "audit")
    assert table.splitlines()[0].split() == ["at", "actor", "via", "origin", "action", "target"]


@pytest.mark.unit
def test_expiry_durations_and_dates() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_expiry("12h", now) == now + timedelta(hours=12)
    assert parse_expiry("30m", now) == now + timedelta(minutes=30)
    assert parse_expiry("2w", now) == now + timedelta(weeks=2)
    assert parse_expiry("2027-03-01", now) == datetime(2027, 3, 1, tzinfo=UTC)
    assert parse_expiry("2027-03-01T10:00:00+02:00", now) == datetime(2027, 3, 1, 8, tzinfo=UTC)
    for bad in ("0d", "-1d", "5y", "", "2026-12-04T11:00:00Z"):
        with pytest.raises(TokenError):
            parse_expiry(bad, now)


# ---------------------------------------------------------------------------------------------- API
@dataclass
class Api:
    client: test_utils.TestClient
    engine: Any
    hub: LiveHub
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, path: str, who: str = "admin", status: int = 200,
                   **kwargs: Any) -> Any:
        response = await self.client.request(method, path, headers=self.auth(who), **kwargs)
        body = await response.json()
        assert response.status == status, (method, path, response.status, body)
        return body


@pytest.fixture
async def api(db_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """The API on db_url with a live hub; open websockets' tokens rechecked every `param` seconds (0.2:
    a test waits for a revocation made behind the API's back, not for the default 2 s)."""
    engine = await open_database(db_url)
    hub = LiveHub()
    client: test_utils.TestClient | None = None
    try:
        tokens = {name: await create_token(engine, role, name) for name, role in (
            ("viewer", "viewer"), ("operator", "operator"), ("admin", "admin"), ("wall", "viewer"),
            ("wall-2", "viewer"))}
        app = create_app(engine, ZoneRegistry([]), live=hub, token_recheck=getattr(request, "param", 0.2))
        client = test_utils.TestClient(test_utils.TestServer(app))
        await client.start_server()
        yield Api(client, engine, hub, tokens)
    finally:
        if client is not None:
            await client.close()
        await engine.dispose()


@pytest.mark.integration
async def test_admins_manage_tokens_through_the_api(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        for who in ("viewer", "operator"):
            await api.call("GET", "/api/tokens", who, 403)
            await api.call("POST", "/api/tokens", who, 403, json={"role": "viewer", "name": "x"})
        created = await api.call("POST", "/api/tokens", status=201,
                                 json={"role": "operator", "name": HOSTILE, "expires": "12h"})
        secret = created.pop("token")
        assert created["name"] == HOSTILE and created["role"] == "operator" and created["state"] == "active"
        assert 11.9 * 3600 < (datetime.fromisoformat(created["expires_at"]) - datetime.now(UTC)
                              ).total_seconds() <= 12 * 3600
        fresh = await api.client.get("/api/stats", headers={"Authorization": f"Bearer {secret}"})
        assert fresh.status == 200
        await api.call("POST", "/api/tokens", status=409, json={"role": "viewer", "name": HOSTILE})
        for body, says in (({"role": "god"}, "role"), ({"role": "viewer", "expires": "soon"}, "expires"),
                           ({"role": "viewer", "name": 7}, "strings"),
                           ({"role": "viewer", "x": 1}, "unknown"), ([], "JSON object")):
            error = await api.call("POST", "/api/tokens", status=400, json=body)
            assert says in error["error"], (body, error)

        response = await api.client.get("/api/tokens", headers=api.auth("admin"))
        text = await response.text()
        assert secret not in text and "token_hash" not in text and api.tokens["viewer"] not in text
        listed = {t["name"]: t for t in json.loads(text)["tokens"]}
        # Last use: when and from where, written on the first use (then at most once a minute).
        assert listed["admin"]["last_used_from"] == "127.0.0.1" and listed["admin"]["last_used_at"]
        assert listed["wall"]["last_used_at"] is None

        revoked = await api.call("DELETE", f"/api/tokens/{listed[HOSTILE]['id']}")
        assert revoked["state"] == "revoked" and revoked["revoked_at"]
        again = await api.client.get("/api/stats", headers={"Authorization": f"Bearer {secret}"})
        assert again.status == 401, "refused at once"
        await api.call("DELETE", f"/api/tokens/{listed[HOSTILE]['id']}", status=409)
        await api.call("DELETE", "/api/tokens/nobody", status=404)
        await api.call("DELETE", "/api/tokens/99999", status=404)
        active = (await api.call("GET", "/api/tokens", params={"active": "true"}))["tokens"]
        assert HOSTILE not in {t["name"] for t in active} and "wall" in {t["name"] for t in active}


@pytest.mark.integration
async def test_an_expired_token_is_refused(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        assert (await api.client.get("/api/stats", headers=api.auth("wall"))).status == 200
        async with api.engine.begin() as conn:
            await conn.execute(update(api_tokens).where(api_tokens.c.name == "wall")
                               .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert (await api.client.get("/api/stats", headers=api.auth("wall"))).status == 401
        listed = {t["name"]: t for t in (await api.call("GET", "/api/tokens"))["tokens"]}
        assert listed["wall"]["state"] == "expired" and listed["wall-2"]["state"] == "active"


async def _connected(api: Api, who: str) -> aiohttp.ClientWebSocketResponse:
    before = len(api.hub.clients)
    socket = await api.client.ws_connect(f"/api/live?token={api.tokens[who]}")
    while len(api.hub.clients) == before:  # registered once the handshake is done
        await asyncio.sleep(0.01)
    return socket


async def _closed_with(socket: aiohttp.ClientWebSocketResponse, within: float) -> tuple[int | None, str]:
    async with asyncio.timeout(within):
        message = await socket.receive()
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), message
    return socket.close_code, str(message.extra or "")


@pytest.mark.integration
@pytest.mark.parametrize("api", [3600.0], indirect=True)  # no recheck within the test: the API cuts it
async def test_revoking_a_token_through_the_api_closes_its_websockets_at_once_and_no_other(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        wall, other = await _connected(api, "wall"), await _connected(api, "viewer")
        await api.call("DELETE", "/api/tokens/wall")
        code, reason = await _closed_with(wall, 2.0)
        assert code == 1008 and "revoked" in reason
        # The other client still gets alerts.
        store = AlertStore(api.engine)
        store.subscribe(api.hub.alert_changed)
        await store.raise_alerts([AlertDraft(kind="went_dark", occurred_at=T0, event_key="a", mmsi=ANGARA,
                                             vessel_name="ANGARA", place="Rajin")])
        async with asyncio.timeout(5):
            assert json.loads((await other.receive()).data)["type"] == "alert"
        # A revoked token cannot open a new one.
        refused = await api.client.get(f"/api/live?token={api.tokens['wall']}")
        assert refused.status == 401


@pytest.mark.integration
async def test_a_token_revoked_elsewhere_or_expired_closes_its_websocket_at_the_recheck(api: Api) -> None:
    """Revoked by the CLI or another instance, or expired: this instance learns at its next recheck."""
    async with asyncio.timeout(LIMIT):
        other = await _connected(api, "viewer")
        second = await _connected(api, "wall-2")
        await revoke_token(api.engine, "wall-2")
        code, _ = await _closed_with(second, 3.0)
        assert code == 1008
        async with api.engine.begin() as conn:
            await conn.execute(update(api_tokens).where(api_tokens.c.name == "viewer")
                               .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        code, _ = await _closed_with(other, 3.0)
        assert code == 1008
        assert not api.hub.clients


@pytest.mark.integration
async def test_every_change_through_the_api_is_audited_and_only_admins_read_it(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        store = AlertStore(api.engine, cooldown=0)
        rows = []
        for key, hours in (("a", 0), ("b", 1)):
            rows += await store.raise_alerts([AlertDraft(
                kind="zone_entry", occurred_at=T0 + timedelta(hours=hours), event_key=key, mmsi=ANGARA,
                vessel_name="ANGARA", place="Rajin")])
        first, second = rows[0]["id"], rows[1]["id"]
        csv_body = "name,imo,mmsi,flag,reason,source\nTEST SHIP,9179842,,Russia,testing,unit test\n"
        await api.call("POST", "/api/watchlist?format=csv", data=csv_body)
        await api.call("DELETE", "/api/watchlist/imo:9179842")
        await api.call("POST", f"/api/alerts/{first}/ack", "operator", json={"note": HOSTILE})
        await api.call("POST", f"/api/alerts/{first}/resolve", "operator", json={})
        await api.call("POST", f"/api/alerts/{first}/ack", "operator", 409, json={})  # refused: no entry
        await api.call("POST", "/api/alerts/424242/ack", "operator", 404, json={})
        incident = rows[1]["incident_id"]
        await api.call("PATCH", f"/api/incidents/{incident}", "operator", json={"owner": "desk 2"})
        await api.call("POST", f"/api/incidents/{incident}/ack", "operator", json={"note": "seen"})
        created = await api.call("POST", "/api/tokens", status=201, json={"role": "viewer", "name": "new"})
        await api.call("DELETE", f"/api/tokens/{created['id']}")

        for who in ("viewer", "operator"):
            await api.call("GET", "/api/audit", who, 403)
        entries = (await api.call("GET", "/api/audit"))["entries"]
        assert [e["action"] for e in reversed(entries)] == [
            "watchlist.import", "watchlist.remove", "alert.ack", "alert.resolve", "incident.update",
            "incident.update", "token.create", "token.revoke"]
        assert {e["via"] for e in entries} == {"api"} and {e["origin"] for e in entries} == {"127.0.0.1"}
        by = {(e["action"], e["target"]): e for e in entries}
        assert by[("watchlist.import", "upload")]["actor"] == "admin"
        assert by[("watchlist.import", "upload")]["details"]["keys"] == {"count": 1, "items": ["imo:9179842"]}
        removed = by[("watchlist.remove", "imo:9179842")]["details"]
        assert removed["name"] == "TEST SHIP" and removed["reason"] == "testing"
        ack = by[("alert.ack", f"alert {first}")]
        assert ack["actor"] == "operator" and ack["details"] == {"from": "open", "to": "acknowledged",
                                                                 "note": HOSTILE}
        assert by[("alert.resolve", f"alert {first}")]["details"]["from"] == "acknowledged"
        owner, acked = [e for e in reversed(entries) if e["action"] == "incident.update"]
        assert owner["details"]["owner"] == [None, "desk 2"]
        assert acked["details"]["state"] == ["open", "acknowledged"] and second in acked["details"]["alerts"]
        assert by[("token.create", f"token {created['id']}")]["details"]["name"] == "new"

        only = (await api.call("GET", "/api/audit", params={"action": "alert.ack"}))["entries"]
        assert [e["target"] for e in only] == [f"alert {first}"]
        assert (await api.call("GET", "/api/audit", params={"actor": "nobody"}))["entries"] == []
        assert len((await api.call("GET", "/api/audit", params={"limit": "2"}))["entries"]) == 2
        await api.call("GET", "/api/audit", status=400, params={"action": "drop.tables"})
        await api.call("GET", "/api/audit", status=400, params={"since": "yesterday"})


@pytest.mark.integration
def test_cli_changes_are_audited_and_retention_never_touches_the_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'audit.db'}"
    watchlist = tmp_path / "list.csv"
    watchlist.write_text("name,imo,mmsi,flag,reason,source\nMARIA,9191981,,Russia,arms,test\n")

    async def seed() -> int:
        async with engine_on(db) as engine:
            row = (await AlertStore(engine).raise_alerts([AlertDraft(
                kind="went_dark", occurred_at=T0, event_key="x", mmsi=ANGARA, vessel_name="ANGARA",
                place="Rajin")]))[0]
            async with engine.begin() as conn:  # an entry from long ago, older than any retention
                await conn.execute(insert(audit_log).values(
                    at=datetime(2020, 1, 1, tzinfo=UTC), actor="old", via="cli", origin="x@y",
                    action="watchlist.remove", target="imo:1", details={}))
            return int(row["id"])

    alert_id = asyncio.run(seed())
    assert cli(capsys, "--db", db, "watchlist", "import", str(watchlist))[0] == 0
    assert cli(capsys, "--db", db, "watchlist", "remove", "imo:9191981")[0] == 0
    assert cli(capsys, "--db", db, "alerts", "ack", str(alert_id), "--by", "night desk")[0] == 0
    code, _, err = cli(capsys, "--db", db, "alerts", "resolve", "999")
    assert code == 2 and "no alert" in err
    config = tmp_path / "retention.toml"
    config.write_text("[retention]\nfull_detail_days = 1\nkeep_days = 2\n")
    assert cli(capsys, "--db", db, "--config", str(config), "maintain")[0] == 0
    code, out, _ = cli(capsys, "--db", db, "audit", "--format", "jsonl")
    entries = jsonl(out)
    assert [(e["action"], e["actor"], e["via"]) for e in entries] == [
        ("alert.ack", "night desk", "cli"), ("watchlist.remove", login(), "cli"),
        ("watchlist.import", login(), "cli"), ("watchlist.remove", "old", "cli")]
    assert entries[2]["target"].endswith("list.csv") and entries[2]["details"]["imported"] == 1
    code, out, _ = cli(capsys, "--db", db, "audit", "--since", "2021-01-01T00:00:00Z", "--format", "jsonl")
    assert len(jsonl(out)) == 3


@pytest.mark.integration
async def test_the_demo_token_made_at_each_start_replaces_the_last(api: Api) -> None:
    async with asyncio.timeout(LIMIT):
        fresh = await create_token(api.engine, "viewer", "wall", replace=True)
        assert (await api.client.get("/api/stats", headers=api.auth("wall"))).status == 401
        fresh_auth = {"Authorization": f"Bearer {fresh}"}
        assert (await api.client.get("/api/stats", headers=fresh_auth)).status == 200
        states = [(t["name"], t["state"]) for t in (await api.call("GET", "/api/tokens"))["tokens"]]
        assert states.count(("wall", "revoked")) == 1 and states.count(("wall", "active")) == 1
