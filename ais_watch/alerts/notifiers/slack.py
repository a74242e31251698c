"""Slack incoming-webhook notifier: a Block Kit message a watch officer reads at a glance.

Everything that comes from AIS (vessel name, place, destination, anything in details) is untrusted: a
ship may well broadcast the name `<!channel>`. Slack treats &, < and > as control characters in every
text object and in the top-level `text` and asks for them as &amp;, &lt; and &gt; when they are meant
literally (https://docs.slack.dev/messaging/formatting-message-text#escaping); it decodes exactly these
three entities for display. So every AIS string goes through `escape()` before it is placed anywhere in
the message; the only raw `<...>` we emit is the map link we build ourselves. mrkdwn fields also carry
`verbatim: true`, so Slack does no automatic parsing (bare @here, #channel names, URLs) of their content.

Header blocks only take plain_text, which Slack never parses for mentions or links, so escaping is not
needed there for safety. We escape anyway: the formatting reference describes the escaping for all text
objects (plain_text included), Slack decodes the three entities for display, and one rule everywhere
cannot be forgotten in one place. The worst case, should a client ever show a plain_text header
undecoded, is a visible "&amp;" in a ship's name, never a ping. Limits (Block Kit reference): header
text 150 characters, a section field 2000, at most 10 fields; limits count the escaped text, and
truncation never cuts an entity in two.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ais_watch.alerts.notifiers.base import DeliveryResult, NotifierFilter
from ais_watch.alerts.notifiers.http import HttpPoster

HEADER_MAX = 150
FIELD_MAX = 2000
FIELDS_MAX = 10
PLACE_IN_HEADER_MAX = 50  # raw characters; the vessel name gets the rest of the header
ELLIPSIS = "…"

KIND_LABELS = {
    "port_call": "Port call",
    "port_departure": "Port departure",
    "zone_entry": "Zone entry",
    "zone_exit": "Zone exit",
    "went_dark": "Went dark",
    "reappeared": "Reappeared",
    "possible_dark_port_call": "Possible dark port call",
    "feed_outage": "Feed outage",
    "feed_restored": "Feed restored",
    "reception_loss": "Reception loss",
    "reception_restored": "Reception restored",
    "identity_change": "Identity change",
    "position_anomaly": "Position anomaly",
    "draught_change": "Draught change",
    "gnss_interference": "GNSS interference",
    "encounter": "Encounter",
    "loitering": "Loitering",
}
_PREPOSITION = {"port_departure": "from", "zone_exit": "from"}

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text: object) -> str:
    """Slack's three control characters as entities (the & first, so nothing is escaped twice)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: object, limit: int) -> str:
    """`text` escaped, cut (with an ellipsis) so the escaped result has at most `limit` characters,
    never in the middle of an entity."""
    raw = str(text)
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    if limit <= 0:
        return ""
    out: list[str] = []
    used = 0
    budget = limit - len(ELLIPSIS)
    for char in raw:
        piece = _ESCAPES.get(char, char)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip() + ELLIPSIS


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


def format_duration(seconds: Any) -> str | None:
    """3 d 4 h, 5 h 12 min, 42 min; None when not a number."""
    try:
        total = int(float(seconds))
    except (TypeError, ValueError, OverflowError):
        return None
    total = max(total, 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{total} s"


def format_time(value: object) -> str | None:
    """An ISO timestamp of the alert object as "2023-09-12 14:05 UTC"."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _clean(value: object) -> str | None:
    """AIS text with padding stripped; None for empty or missing."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _subject(alert: dict[str, Any]) -> str | None:
    name = _clean(alert.get("vessel_name"))
    if name:
        return name
    if alert.get("mmsi") is not None:
        return f"MMSI {alert['mmsi']}"
    if alert.get("imo"):
        return f"IMO {alert['imo']}"
    return None


def _coord(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN


def map_link(map_url: str, lat: float, lon: float) -> str:
    """`<url|54.1234, 10.5678>`: the operator's map URL with {lat} and {lon} filled in.
    The URL is escaped too (its & become &amp;, which Slack decodes) and a | could end the URL early."""
    lat_s, lon_s = f"{lat:.4f}", f"{lon:.4f}"
    url = map_url.replace("{lat}", lat_s).replace("{lon}", lon_s).replace("|", "%7C")
    return f"<{escape(url)}|{lat_s}, {lon_s}>"


def header_text(alert: dict[str, Any]) -> str:
    """'HIGH · Port call: ANGARA at Rajin', escaped and at most HEADER_MAX characters."""
    severity = escape(str(alert.get("severity") or "").upper())
    kind = str(alert.get("kind") or "")
    prefix = f"{severity} · {escape(kind_label(kind))}" if severity else escape(kind_label(kind))
    place = _clean(alert.get("place"))
    subject = _subject(alert)
    if subject is None:  # feed outages: no vessel
        return f"{prefix}: {fit(place, HEADER_MAX - len(prefix) - 2)}" if place else prefix
    # "at sea, 35 nm SE of Rajin" (ais_watch/geo.py) says where by itself: no "at" before it.
    joint = "," if place and place.startswith(("at sea", "on land")) else f" {_PREPOSITION.get(kind, 'at')}"
    place_part = f"{joint} {fit(place, PLACE_IN_HEADER_MAX)}" if place else ""
    budget = HEADER_MAX - len(prefix) - 2 - len(place_part)
    return f"{prefix}: {fit(subject, budget)}{place_part}"


def _field(label: str, value: str) -> dict[str, Any]:
    """A mrkdwn field; `value` must already be escaped (and fit)."""
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}", "verbatim": True}


def _text_field(label: str, value: object) -> dict[str, Any]:
    return _field(label, fit(value, FIELD_MAX - len(label) - 3))


def _number(value: Any) -> float | None:
    """A finite number from details, else None (a bool is no number here)."""
    return None if isinstance(value, bool) else _coord(value)


def partner_text(partner: Any) -> str | None:
    """An encounter's other vessel, raw (the caller escapes): "TANKER 9 · MMSI 352222222 · IMO 9300001 ·
    PA · watched: <reason>"."""
    if not isinstance(partner, dict) or partner.get("mmsi") is None:
        return None
    parts = [_clean(partner.get("name")), f"MMSI {partner['mmsi']}",
             f"IMO {partner['imo']}" if partner.get("imo") else None, _clean(partner.get("flag"))]
    if partner.get("watched"):
        why = partner.get("why")
        reason = _clean(why.get("reason")) if isinstance(why, dict) else None
        parts.append(f"watched: {reason}" if reason else "watched")
    return " · ".join(p for p in parts if p)


def _encounter_figures(kind: str, details: dict[str, Any]) -> list[tuple[str, str]]:
    """The encounter's and loitering's own fields, raw: how long (so far, while it goes on), how close,
    who else was seen."""
    duration = format_duration(details["duration_seconds"]) if "duration_seconds" in details else None
    if duration and not details.get("end"):
        duration += " so far"
    if kind == "encounter":
        closest = _number(details.get("min_distance_m"))
        distance = f"closest {closest:.0f} m" if closest is not None else None
        together = ", ".join(p for p in (duration, distance) if p)
        return [("Together", together)] if together else []
    neighbours = details.get("neighbours")
    seen = len(neighbours) if isinstance(neighbours, list) else 0
    km = _number(details.get("neighbour_km"))
    near = f"within {km:g} km" if km is not None else "nearby"
    nearby = (f"{seen} vessel{'s' if seen != 1 else ''} {near}: " + ", ".join(map(str, neighbours))
              if seen and isinstance(neighbours, list) else f"no vessel {near}")
    return [*([("Slow for", duration)] if duration else []), ("Nearby", nearby)]


def slack_message(alert: dict[str, Any], map_url: str) -> dict[str, Any]:
    """The incoming-webhook payload for one alert object (alert_json's shape)."""
    details = alert.get("details") or {}
    if not isinstance(details, dict):
        details = {}
    fields: list[dict[str, Any]] = []
    name = _clean(alert.get("vessel_name"))
    if name:
        fields.append(_text_field("Vessel", name))
    if alert.get("imo"):
        fields.append(_text_field("IMO", alert["imo"]))
    if alert.get("mmsi") is not None:
        fields.append(_text_field("MMSI", alert["mmsi"]))
    flag = _clean(details.get("flag"))
    if flag:
        fields.append(_text_field("Flag", flag))
    kind = alert.get("kind")
    partner = partner_text(details.get("partner")) if kind == "encounter" else None
    if partner:
        fields.append(_text_field("Partner", partner))
    place = _clean(alert.get("place"))
    if place:
        fields.append(_text_field("Place", place))
    where = _clean(details.get("where")) if isinstance(details.get("where"), str) else None
    if where and where != place:  # in a zone (the place): where in it, "at sea, 9 nm SE of Chongjin"
        fields.append(_text_field("Where", where))
    when = format_time(alert.get("occurred_at"))
    if when:
        fields.append(_text_field("Time", when))
    lat, lon = _coord(alert.get("lat")), _coord(alert.get("lon"))
    if lat is not None and lon is not None:
        shore = _number(details.get("shore_distance_nm"))
        offshore = f" · {shore:.0f} nm from shore" if shore is not None else ""
        fields.append(_field("Position", map_link(map_url, lat, lon) + offshore))
    gap = format_duration(details["gap_seconds"]) if "gap_seconds" in details else None
    if gap:
        fields.append(_text_field("AIS gap", gap))
    if kind in ("encounter", "loitering"):
        fields += [_text_field(label, value) for label, value in _encounter_figures(kind, details)]
    else:
        duration = format_duration(details["duration_seconds"]) if "duration_seconds" in details else None
        if duration:
            fields.append(_text_field("Duration", duration))
    if alert.get("id") is not None:
        fields.append(_text_field("Alert", f"#{alert['id']}"))
    destination = _clean(details.get("destination"))
    if destination:
        fields.append(_text_field("Destination", destination))
    fields = fields[:FIELDS_MAX]  # in order of importance: the destination goes first

    header = header_text(alert)
    fallback = header + (f" · {escape(when)}" if when else "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    return {
        "text": fallback,  # escaped, and short: the header plus the time
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


class SlackNotifier:
    """Posts each alert to a Slack incoming webhook. Slack allows about one message a second per webhook."""

    type = "slack"
    min_interval = 1.0

    def __init__(self, name: str, url: str, filter: NotifierFilter, *, timeout: float, map_url: str) -> None:
        self.name = name
        self.filter = filter
        self.map_url = map_url
        self._url = url
        self._http = HttpPoster(timeout)

    def __repr__(self) -> str:  # never the URL: it is the secret
        return f"SlackNotifier(name={self.name!r})"

    async def send(self, alert: dict[str, Any], idempotency_key: str) -> DeliveryResult:
        # Incoming webhooks have no idempotency key; the dispatcher's record is what prevents repeats.
        try:
            body = json.dumps(slack_message(alert, self.map_url), ensure_ascii=False).encode()
        except (TypeError, ValueError) as err:
            return DeliveryResult(ok=False, response=f"cannot build the Slack message: {err}", permanent=True)
        return await self._http.post(self._url, body, {"Content-Type": "application/json; charset=utf-8"})

    async def close(self) -> None:
        await self._http.close()
