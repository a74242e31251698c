"""HTTP posting shared by the Slack and webhook notifiers: one aiohttp session per notifier, a bounded
request, and the receiver's answer mapped onto a DeliveryResult (ok, retryable or permanent).

Nothing here raises for a receiver's failure, and no error text carries the URL: a Slack incoming
webhook URL is itself the secret."""

from __future__ import annotations

import errno
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from ais_watch.alerts.notifiers.base import RESPONSE_SNIPPET, DeliveryResult

if TYPE_CHECKING:
    # Imported where a request is made: a process that never sends one (a replay without --notify, the
    # CLI's other commands) does not load aiohttp (0.1 s of a replay's start-up).
    import aiohttp

RETRY_AFTER_CAP = 3600.0  # seconds; a receiver asking for longer gets retried after an hour anyway
RETRYABLE_STATUSES = frozenset({408, 425, 429})  # plus every 5xx
USER_AGENT = "ais-watch (+https://github.com/ais-watch)"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110), capped at RETRY_AFTER_CAP.
    None when absent or unreadable; a date in the past gives 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    if text.isdigit():
        seconds = float(int(text))
    else:
        try:
            seconds = float(text)  # not RFC, but some receivers send "1.5"
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            current = time.time() if now is None else now
            seconds = when.timestamp() - current
        if seconds != seconds:  # NaN
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _snippet(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:RESPONSE_SNIPPET]


def result_for_status(status: int, body: str, retry_after_header: str | None) -> DeliveryResult:
    """The DeliveryResult for an HTTP answer: 2xx ok; 408/425/429/5xx retryable; other codes permanent."""
    if 200 <= status < 300:
        return DeliveryResult(ok=True, status=status, response=body)
    retry_after = parse_retry_after(retry_after_header) if status in (429, 503) else None
    if status in RETRYABLE_STATUSES or 500 <= status < 600:
        return DeliveryResult(ok=False, status=status, response=body, retry_after=retry_after)
    if 300 <= status < 400:  # redirects are not followed: the signature and body must not travel on
        body = body or f"redirect ({status}) not followed; check the URL"
    return DeliveryResult(ok=False, status=status, response=body, permanent=True)


def _connection_error_text(err: BaseException) -> str:
    """A short description without host, port or URL."""
    import aiohttp

    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return "DNS lookup failed"
    if isinstance(err, aiohttp.ClientSSLError):
        return "TLS error"
    os_error = getattr(err, "os_error", None)
    code = getattr(os_error, "errno", None) if os_error is not None else getattr(err, "errno", None)
    if code == errno.ECONNREFUSED or isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(err, aiohttp.ClientConnectionResetError | ConnectionResetError):
        return "connection reset"
    if code is not None:
        return f"connection failed: {errno.errorcode.get(code, code)}"
    return f"connection failed: {type(err).__name__}"


class HttpPoster:
    """POSTs bodies for one notifier. The session is created on first use (inside the running loop)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = float(timeout)
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        return (await self.exchange(url, body, headers))[0]

    async def exchange(self, url: str, body: bytes, headers: Mapping[str, str],
                       read_limit: int = RESPONSE_SNIPPET * 4) -> tuple[DeliveryResult, bytes | None]:
        """POST, and the result with the first `read_limit` bytes of the answer (None when there was no
        answer): a receiver that answers in JSON (Slack's Web API) is read further than a snippet."""
        import aiohttp

        session = self._get_session()
        try:
            async with session.post(url, data=body, headers=dict(headers), allow_redirects=False) as resp:
                # Read only what we keep (a few bytes per character at most), never a huge error page.
                raw = await resp.content.read(read_limit)
                result = result_for_status(resp.status, _snippet(raw), resp.headers.get("Retry-After"))
                return result, raw
        except TimeoutError:  # aiohttp's ServerTimeoutError and ConnectionTimeoutError are TimeoutErrors
            return DeliveryResult(ok=False, response=f"timeout after {self.timeout}s"), None
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
            return DeliveryResult(ok=False, response="invalid URL", permanent=True), None
        except (aiohttp.ClientConnectionError, OSError) as err:
            return DeliveryResult(ok=False, response=_connection_error_text(err)), None
        except aiohttp.ClientError as err:  # payload errors, bad responses
            return DeliveryResult(ok=False, response=f"HTTP client error: {type(err).__name__}"), None

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

