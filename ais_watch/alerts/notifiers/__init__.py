"""Notifiers: where alerts go (Slack, a signed webhook, a JSON Lines file) and which alerts each gets.

Configured as `[[notifiers]]` tables in the config file:

    [[notifiers]]
    type = "slack"                      # slack | webhook | file (required)
    name = "ops"                        # unique; default "<type>-<n>" (n counts tables from 1)
    url = "https://hooks.slack.com/services/..."  # slack and webhook: required, http(s)
    kinds = ["port_call", "possible_dark_port_call"]   # default: every kind
    min_severity = "high"               # info | low | medium | high | critical; default info
    tags = ["sanctioned"]               # watchlist tags; default: any
    zones = ["rajin"]                   # zone ids; default: any

    [[notifiers]]
    type = "slack"                      # a bot token instead of a url: a thread per incident
    token = "xoxb-..."                  # chat:write; with `channel` (an ID or a name)
    channel = "C0123456789"
    broadcast = "critical"              # replies at or above this also show in the channel; "none"
    # api_url = "https://slack.com/api" # Slack's Web API (a proxy's, or a test server's)

    [[notifiers]]
    type = "webhook"
    url = "https://example.org/ais-hook"
    secret = "..."                      # webhook only: HMAC-SHA256 signing secret

    [[notifiers]]
    type = "file"
    path = "alerts.jsonl"               # file only; "-" for stdout

Besides the tables, `slack_webhook_url` makes a Slack notifier named "slack", `slack_bot_token` with
`slack_channel` a threaded Slack notifier named "slack-thread", and `webhook_url` (with `webhook_secret`)
a webhook notifier named "webhook"; these get every alert.

Errors name the table (`notifiers[n]`, counted from 1 in file order, with its name when it has one) and
what is wrong with it, and never quote a URL or a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from ais_watch.alerts.model import KINDS, Severity
from ais_watch.alerts.notifiers.base import DeliveryResult, Notifier, NotifierFilter
from ais_watch.alerts.notifiers.file import FileNotifier
from ais_watch.alerts.notifiers.slack import SlackNotifier
from ais_watch.alerts.notifiers.slack_thread import API_URL, SlackThreadNotifier
from ais_watch.alerts.notifiers.webhook import WebhookNotifier, verify_signature
from ais_watch.config import Settings
from ais_watch.errors import ConfigError

__all__ = [
    "DeliveryResult",
    "FileNotifier",
    "Notifier",
    "NotifierFilter",
    "SlackNotifier",
    "SlackThreadNotifier",
    "WebhookNotifier",
    "notifiers_from_settings",
    "verify_signature",
]

TYPES = ("slack", "webhook", "file")
NAME_MAX = 64  # deliveries.notifier is a String(64)
_COMMON_KEYS = frozenset({"type", "name", "kinds", "min_severity", "tags", "zones"})
_TYPE_KEYS = {
    "slack": frozenset({"url", "token", "channel", "api_url", "broadcast"}),
    "webhook": frozenset({"url", "secret"}),
    "file": frozenset({"path"}),
}
_ALL_KEYS = _COMMON_KEYS.union(*_TYPE_KEYS.values())


# How a table's checks report a problem: the error, naming the table, for the caller to raise.
Fail = Callable[[str], ConfigError]


def is_http_url(value: object) -> bool:
    if not isinstance(value, str) or value != value.strip() or not value:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _type_name(value: object) -> str:
    return type(value).__name__


def _string_list(table: dict[str, Any], key: str, fail: Fail) -> frozenset[str] | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(f"'{key}' must be a list of non-empty strings")
    if not value:
        raise fail(f"'{key}' must not be empty (leave it out to mean any)")
    return frozenset(v.strip() for v in value)


def _filter_from_table(table: dict[str, Any], fail: Fail) -> NotifierFilter:
    kinds = _string_list(table, "kinds", fail)
    if kinds is not None:
        for kind in sorted(kinds):
            if kind not in KINDS:
                raise fail(f"unknown kind {kind!r} in 'kinds'; one of {', '.join(KINDS)}")
    min_severity = Severity.INFO
    if "min_severity" in table:
        value = table["min_severity"]
        if not isinstance(value, str):
            raise fail(f"'min_severity' must be a string, got {_type_name(value)}")
        try:
            min_severity = Severity.parse(value)
        except ValueError as err:
            raise fail(f"'min_severity': {err}") from None
    return NotifierFilter(kinds=kinds, min_severity=min_severity, tags=_string_list(table, "tags", fail),
                          zones=_string_list(table, "zones", fail))


def _notifier_from_table(index: int, table: dict[str, Any], settings: Settings) -> Notifier:
    name = table.get("name")
    label = f"notifiers[{index}]"
    if isinstance(name, str) and name.strip():
        label += f" (name {name.strip()!r})"

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{label}: {message}")

    for key in table:
        if key not in _ALL_KEYS:
            raise fail(f"unknown key {key!r}; known keys: {', '.join(sorted(_ALL_KEYS))}")
    kind = table.get("type")
    if kind is None:
        raise fail(f"'type' is required: one of {', '.join(TYPES)}")
    if kind not in TYPES:
        shown = repr(kind) if isinstance(kind, str) else _type_name(kind)
        raise fail(f"unknown type {shown}; one of {', '.join(TYPES)}")
    for key in table:
        if key not in _COMMON_KEYS and key not in _TYPE_KEYS[kind]:
            raise fail(f"key {key!r} does not apply to type {kind!r}")

    if name is None:
        name = f"{kind}-{index}"
    elif not isinstance(name, str) or not name.strip():
        raise fail("'name' must be a non-empty string")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise fail(f"'name' is longer than {NAME_MAX} characters")

    notifier_filter = _filter_from_table(table, fail)
    if kind == "slack" and ("token" in table or "channel" in table):
        return _slack_thread_from_table(name, table, notifier_filter, settings, fail)
    if kind == "slack" and ("api_url" in table or "broadcast" in table):
        raise fail("'api_url' and 'broadcast' apply to a bot token ('token' and 'channel'), not to 'url'")
    if kind in ("slack", "webhook"):
        if "url" not in table:
            raise fail(f"'url' is required for type {kind!r}")
        url = table["url"]
        if not is_http_url(url):  # the value is never shown: webhook URLs are secrets
            raise fail("'url' must be an http(s) URL")
        if kind == "slack":
            return SlackNotifier(name, url, notifier_filter, timeout=settings["alerts.http_timeout"],
                                 map_url=settings["alerts.map_url"])
        secret = table.get("secret", "")
        if not isinstance(secret, str):
            raise fail("'secret' must be a string")
        return WebhookNotifier(name, url, secret, notifier_filter, timeout=settings["alerts.http_timeout"])
    path = table.get("path")
    if path is None:
        raise fail("'path' is required for type 'file' (\"-\" for stdout)")
    if not isinstance(path, str) or not path.strip():
        raise fail("'path' must be a non-empty string")
    return FileNotifier(name, path, notifier_filter)


def _slack_thread_from_table(name: str, table: dict[str, Any], notifier_filter: NotifierFilter,
                             settings: Settings, fail: Fail) -> SlackThreadNotifier:
    """A Slack notifier with a bot token: a thread per incident (slack_thread.py)."""
    if "url" in table:
        raise fail("give 'url' (an incoming webhook) or 'token' and 'channel' (a bot posting a thread per "
                   "incident), not both")
    token, channel = table.get("token"), table.get("channel")
    if not is_token(token):  # the value is never shown: it is a secret
        raise fail("'token' must be a Slack bot token (a non-empty string without spaces)")
    if not isinstance(channel, str) or not channel.strip() or len(channel.strip()) > 128:
        raise fail("'channel' must be a channel ID or name (1 to 128 characters)")
    api_url = table.get("api_url", API_URL)
    if not is_http_url(api_url):
        raise fail("'api_url' must be an http(s) URL")
    broadcast: Severity | None = Severity.CRITICAL
    if "broadcast" in table:
        value = table["broadcast"]
        if not isinstance(value, str):
            raise fail(f"'broadcast' must be a severity or \"none\", got {_type_name(value)}")
        try:
            broadcast = None if value.strip().lower() == "none" else Severity.parse(value)
        except ValueError as err:
            raise fail(f"'broadcast': {err}, or none") from None
    return SlackThreadNotifier(name, token, channel.strip(), notifier_filter,
                               timeout=settings["alerts.http_timeout"], map_url=settings["alerts.map_url"],
                               api_url=api_url, broadcast=broadcast)


def is_token(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)


def notifiers_from_settings(settings: Settings) -> list[Notifier]:
    """Every configured notifier, in table order, then "slack" and "webhook" from the plain settings.
    Raises ConfigError for anything wrong."""
    found: list[tuple[Notifier, str]] = []  # with where it was configured, for the duplicate message
    for index, table in enumerate(settings["notifiers"], start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"notifiers[{index}]: expected a table, got {_type_name(table)}")
        found.append((_notifier_from_table(index, table, settings), f"notifiers[{index}]"))

    timeout = settings["alerts.http_timeout"]
    slack_url = settings["slack_webhook_url"]
    if slack_url:
        if not is_http_url(slack_url):
            raise ConfigError("setting 'slack_webhook_url': must be an http(s) URL")
        slack = SlackNotifier("slack", slack_url, NotifierFilter(), timeout=timeout,
                              map_url=settings["alerts.map_url"])
        found.append((slack, "setting 'slack_webhook_url'"))
    bot_token, bot_channel = settings["slack_bot_token"], settings["slack_channel"].strip()
    if bot_token or bot_channel:
        if not (bot_token and bot_channel):
            raise ConfigError("settings 'slack_bot_token' and 'slack_channel' go together: set both or "
                              "neither")
        if not is_token(bot_token):
            raise ConfigError("setting 'slack_bot_token': a Slack bot token (no spaces)")
        threaded = SlackThreadNotifier("slack-thread", bot_token, bot_channel, NotifierFilter(),
                                       timeout=timeout, map_url=settings["alerts.map_url"])
        found.append((threaded, "settings 'slack_bot_token' and 'slack_channel'"))
    webhook_url = settings["webhook_url"]
    if webhook_url:
        if not is_http_url(webhook_url):
            raise ConfigError("setting 'webhook_url': must be an http(s) URL")
        webhook = WebhookNotifier("webhook", webhook_url, settings["webhook_secret"] or None,
                                  NotifierFilter(), timeout=timeout)
        found.append((webhook, "setting 'webhook_url'"))

    seen: dict[str, str] = {}
    for notifier, origin in found:
        if notifier.name in seen:
            first = seen[notifier.name]
            raise ConfigError(f"duplicate notifier name {notifier.name!r}: {first} and {origin}")
        seen[notifier.name] = origin
    return [notifier for notifier, _ in found]
