"""`python -m ais_watch serve` and the CLI as child processes, and what they talk to: a local NMEA feed,
a free port, the API over HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers.paths import REPO
from tests.helpers.waiting import wait_for

STOP_WITHIN = 8.0  # seconds serve may take to exit on SIGTERM


def child_env(**settings: str) -> dict[str, str]:
    """This environment for a child process, less what would change what it does (a developer's own
    AIS_WATCH_* and AISSTREAM_* variables, PYTHONPATH), with unbuffered output and `settings` on top."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIS_WATCH_", "AISSTREAM_")) and k != "PYTHONPATH"}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """`python -m ais_watch serve` as a child process, its log in a file. `async with Serve(...) as serve`
    kills it on the way out."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path = REPO) -> None:
        self.env = env
        self.cwd = cwd
        self.base_log = log
        self.log = log
        self.runs = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Serve:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Killed, whatever state it is in; when the test failed, the tail of its log on stderr first."""
        if exc_type is not None:
            print(f"--- serve log (tail)\n{self.tail()}", file=sys.stderr)
        await self.kill()

    async def start(self, args: list[str] | None = None) -> None:
        """`python -m ais_watch serve`, or python with `args`."""
        self.runs += 1  # a log file per run: "pipeline started" must be this run's
        self.log = self.base_log.with_name(f"{self.base_log.stem}.{self.runs}{self.base_log.suffix}")
        with self.log.open("ab") as fh:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *(args or ["-m", "ais_watch", "serve"]), cwd=str(self.cwd), env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=fh, stderr=fh)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self) -> str:
        return "\n".join(self.text().splitlines()[-30:])

    def check_alive(self) -> None:
        assert self.proc is not None
        assert self.proc.returncode is None, f"serve exited ({self.proc.returncode}):\n{self.tail()}"

    async def wait_for(self, predicate: Callable[[], Awaitable[bool] | bool], timeout: float, what: str,
                       interval: float = 0.05) -> None:
        """wait_for, failing at once (with serve's log) if serve dies meanwhile."""
        async def check() -> bool:
            self.check_alive()
            result = predicate()
            return result if isinstance(result, bool) else await result
        await wait_for(check, timeout, what, interval=interval)

    async def api_base(self, timeout: float = 30) -> str:
        """http://HOST:PORT of serve's API, from its log line (it listens on any free port: http.port 0)."""
        pattern = re.compile(r"API on (http://[^\s/]+)/")
        await self.wait_for(lambda: pattern.search(self.text()) is not None, timeout,
                            "the 'API on http://HOST:PORT/' log line")
        return pattern.search(self.text()).group(1)  # type: ignore[union-attr]

    async def started(self, timeout: float = 30) -> None:
        await self.wait_for(lambda: "pipeline started" in self.text(), timeout, "serve to start")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_WITHIN) -> tuple[int, float]:
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            message = f"serve did not exit within {timeout}s of signal {sig}:\n{self.tail()}"
            raise AssertionError(message) from None
        return code, time.monotonic() - began

    async def kill(self) -> None:
        """Cleanup: whatever state it is in."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 10)


class Feed:
    """A local NMEA TCP server: serve connects to it as its source; send() writes to every connection.
    A feed nobody sends on keeps serve's source connected and quiet."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.connected.set()
        try:
            while await reader.read(4096):
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()

    async def send(self, lines: list[str]) -> None:
        assert self.writers, "serve is not connected to the feed"
        data = "".join(line + "\r\n" for line in lines).encode()
        for writer in list(self.writers):
            writer.write(data)
            await writer.drain()


@asynccontextmanager
async def nmea_feed() -> AsyncIterator[Feed]:
    feed = Feed()
    server = await asyncio.start_server(feed._handle, "127.0.0.1", 0)
    feed.port = int(server.sockets[0].getsockname()[1])
    try:
        yield feed
    finally:
        for writer in list(feed.writers):
            writer.close()
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)


def cli_child(env: dict[str, str], db_url: str, *argv: str) -> str:
    """`ais-watch --db DB ARGV` in a child process (another process than the service, as a person at a
    shell would run it); what it printed. A failure fails the test."""
    out = subprocess.run([sys.executable, "-m", "ais_watch", "--db", db_url, *argv], cwd=str(REPO), env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def cli_token(env: dict[str, str], db_url: str, role: str = "operator", name: str = "e2e") -> str:
    """`ais-watch token create` in a child process; the token it printed."""
    return cli_child(env, db_url, "token", "create", "--role", role, "--name", name).strip().splitlines()[-1]


async def get_json(session: aiohttp.ClientSession, base: str, token: str, path: str) -> Any:
    """GET base + path with the token; the JSON of a 200, anything else fails the test."""
    async with session.get(base + path, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200, (path, response.status, await response.text())
        return await response.json()
