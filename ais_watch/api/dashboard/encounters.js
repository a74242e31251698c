// Encounters and loitering on the dashboard: the line each says in the alert list, a ring at each listed
// encounter's meeting point, and, when one is selected, both vessels' tracks over its window.
// Loaded before app.js and called only once the page runs, so app.js's el(), api(), state, finite(),
// serverNow(), shortTime(), alertTitle(), matchesFilter() and selectVessel() are there by then. Names come
// from AIS (a partner may be called <B>M&M</B>): they reach the page through el() as text, never as HTML.
"use strict";

const ENCOUNTER_MARGIN = 3600000;  // ms of track either side of the encounter: how the ships came and went
const ENCOUNTER_MAX_RANGE = 365 * 86400000;  // the track route refuses ranges over 366 days
const ENCOUNTER_COLOURS = { watched: "#ff9500", partner: "#39c5cf" };

function durationText(seconds) {
  if (!finite(seconds)) return null;
  return seconds >= 3600 ? (seconds / 3600).toFixed(1) + " h" : Math.round(seconds / 60) + " min";
}

function metresText(metres) {
  if (!finite(metres)) return null;
  return metres >= 1000 ? (metres / 1000).toFixed(1) + " km" : Math.round(metres) + " m";
}

function partnerLabel(partner) {
  if (!partner || partner.mmsi === null || partner.mmsi === undefined) return "an unknown vessel";
  const name = typeof partner.name === "string" ? partner.name.trim() : "";
  return name ? `${name} (${partner.mmsi})` : String(partner.mmsi);
}

// "met TANKER 9 (352222222) · 2.5 h · 310 m"; "slow 5.2 h · no vessel within 2 km". While the ships are
// still together (no end yet) the duration is "so far": the alert is amended when they part.
function encounterParts(a) {
  const d = a.details || {};
  const duration = durationText(d.duration_seconds);
  const sofar = duration && !d.end ? duration + " so far" : duration;
  if (a.kind === "encounter") return ["met " + partnerLabel(d.partner), sofar, metresText(d.min_distance_m)];
  const seen = Array.isArray(d.neighbours) ? d.neighbours.length : 0;
  // The radius the detector looked in: the alert's own when it says, else the service's setting.
  const km = finite(d.neighbour_km) ? d.neighbour_km : state.loiteringKm;
  const near = finite(km) ? `within ${km} km` : "nearby";
  return [sofar && "slow " + sofar, seen ? `${seen} vessel${seen === 1 ? "" : "s"} ${near}` : `no vessel ${near}`];
}

function encounterDetail(a) {
  return encounterParts(a).filter(Boolean).join(" · ");
}

function meetingTip(a) {
  const [met, ...figures] = encounterParts(a);
  return el("span", {}, [`${alertTitle(a)} ${met}`, shortTime((a.details || {}).start), ...figures]
    .filter(Boolean).join(" · "));
}

// A ring at the meeting point of each encounter the list shows; a click on it selects the encounter.
function drawMeeting(a) {
  if (!state.meetingLayer) return;
  const drawn = state.meetings.get(a.id);
  if (drawn) { state.meetingLayer.removeLayer(drawn); state.meetings.delete(a.id); }
  if (a.kind !== "encounter" || !finite(a.lat, a.lon) || !matchesFilter(a)) return;
  const marker = L.circleMarker([a.lat, a.lon], { radius: 8, color: "#ff3b30", weight: 2.5, fillColor: "#ffffff",
                                                  fillOpacity: a.state === "open" ? 0.9 : 0.4,
                                                  className: "encounter-meeting" })
    .bindTooltip(meetingTip(a));
  marker.on("click", () => showEncounter(a));
  state.meetingLayer.addLayer(marker);
  state.meetings.set(a.id, marker);
}

function clearEncounter() {
  if (state.encounterLayer) state.encounterLayer.clearLayers();
  state.encounter = null;
}

// Both vessels' tracks from an hour before the encounter to an hour after it ended (or to now while they
// are still together), the meeting point on top, the map fitted to them; the watched vessel's panel opens.
async function showEncounter(a) {
  const d = a.details || {};
  const partner = d.partner && Number.isInteger(d.partner.mmsi) ? d.partner.mmsi : null;
  clearEncounter();
  state.encounter = a.id;
  const start = Date.parse(d.start || a.occurred_at);
  const end = d.end ? Date.parse(d.end) + ENCOUNTER_MARGIN : serverNow();
  const until = Number.isNaN(end) ? serverNow() : end;
  const since = Math.max(Number.isNaN(start) ? until - ENCOUNTER_MARGIN : start - ENCOUNTER_MARGIN,
                         until - ENCOUNTER_MAX_RANGE);
  const range = `since=${encodeURIComponent(new Date(since).toISOString())}` +
                 `&until=${encodeURIComponent(new Date(until).toISOString())}`;
  if (a.mmsi) selectVessel(a.mmsi, false).catch(() => {});
  const sides = [[a.mmsi, "watched", alertTitle(a)], [partner, "partner", partnerLabel(d.partner)]]
    .filter(([mmsi]) => mmsi);
  const tracks = await Promise.all(sides.map(([mmsi]) =>
    api(`/api/vessels/${mmsi}/track?format=geojson&${range}&limit=20000`).catch(() => null)));
  if (state.encounter !== a.id) return;  // another selection came first
  const drawn = [];
  sides.forEach(([mmsi, side, label], i) => {
    if (!tracks[i] || !tracks[i].features.length) return;
    const layer = L.geoJSON(tracks[i], {
      style: { color: ENCOUNTER_COLOURS[side], weight: 3, className: `encounter-track encounter-track-${side}` },
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, { radius: 3, className: "encounter-track-fix" }),
    }).bindTooltip(el("span", {}, label), { sticky: true });
    state.encounterLayer.addLayer(layer);
    drawn.push(layer);
  });
  if (finite(a.lat, a.lon)) {
    const point = L.circleMarker([a.lat, a.lon], { radius: 9, color: "#ff3b30", weight: 3, fillColor: "#ffd60a",
                                                   fillOpacity: 0.9, className: "encounter-point" })
      .bindTooltip(meetingTip(a));
    state.encounterLayer.addLayer(point);
    drawn.push(point);
  }
  const bounds = L.featureGroup(drawn).getBounds();
  if (bounds.isValid()) state.map.fitBounds(bounds, { padding: [40, 40], maxZoom: 13 });
}
