// ais-watch watch-floor dashboard. No build step, no CDN: Leaflet comes from the xstatic-leaflet package.
// Every text that comes from AIS (names, destinations, places) is put on the page with textContent or
// as an attribute value, never as HTML: a ship named <IMG SRC=X ONERROR=ALERT(1)> is shown literally.
"use strict";

const state = { token: sessionStorage.getItem("ais-watch-token") || "", map: null, markers: new Map(),
                alerts: new Map(), track: null, calls: null, selected: null, socket: null, retry: 1000,
                clock: null, clockTimer: null, coverage: null, coverageLegend: null, coverageShapes: new Map(),
                coverageTimer: null, coverageMoved: null, anomalyLayer: null, anomalies: new Map(),
                meetingLayer: null, meetings: new Map(), encounterLayer: null, encounter: null, loiteringKm: null,
                alertsAsked: 0 };

function el(tag, props = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  if (text !== null && text !== undefined) node.textContent = String(text);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...(options.headers || {}),
    "Authorization": "Bearer " + state.token, "Content-Type": "application/json" } });
  if (response.status === 401) { signOut("That token is not valid (or no longer)."); throw new Error("401"); }
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || response.statusText);
  return response.json();
}

// ----------------------------------------------------------------------------------------- sign in
function signOut(message) {
  sessionStorage.removeItem("ais-watch-token");
  state.token = "";
  if (state.socket) state.socket.close();
  document.getElementById("app").hidden = true;
  document.getElementById("signin-form").hidden = false;
  document.getElementById("signin-error").textContent = message || "";
}

async function signIn(event) {
  if (event) event.preventDefault();
  const input = document.getElementById("token");
  state.token = (input.value || state.token).trim();
  if (!state.token) return;
  try {
    await api("/api/stats");
  } catch (err) {
    document.getElementById("signin-error").textContent = "Sign-in failed: " + err.message;
    return;
  }
  sessionStorage.setItem("ais-watch-token", state.token);
  input.value = "";
  document.getElementById("signin-form").hidden = true;
  document.getElementById("app").hidden = false;
  await start();
}

// ------------------------------------------------------------------------------------ service time
// Times on the page follow the service's clock, not the browser's: in the demo (`ais-watch serve` with no
// live feed) it runs `speed` times faster than the wall clock, far ahead of it after a while.
function serverNow() {
  const c = state.clock;
  return c ? c.at + (Date.now() - c.fetched) * c.speed : Date.now();
}

function showDemo(demo) {
  const banner = document.getElementById("demo-banner");
  if (state.clockTimer) { clearInterval(state.clockTimer); state.clockTimer = null; }
  banner.hidden = !demo;
  if (!demo) return;
  document.getElementById("demo-text").textContent =
    demo.banner || `DEMO — recorded traffic replayed and one simulated ship; demo time runs ${Number(demo.speed)}x`;
  const clock = document.getElementById("demo-clock");
  const tick = () => { clock.textContent = "demo time " + new Date(serverNow()).toISOString().slice(0, 16).replace("T", " ") + " UTC"; };
  tick();
  state.clockTimer = setInterval(tick, 1000);
}

// --------------------------------------------------------------------------------------------- map
async function start() {
  const fetched = Date.now();
  const config = await api("/api/config");
  const at = Date.parse(config.now);
  state.clock = Number.isNaN(at) ? null : { at, fetched, speed: config.demo ? Number(config.demo.speed) : 1 };
  showDemo(config.demo);
  state.loiteringKm = config.loitering_neighbour_km;
  if (!state.map) {
    state.map = L.map("map", { preferCanvas: false }).setView([42.5, 131.5], 6);
    state.map.on("moveend", sendViewport);
    state.map.on("moveend", coverageMoved);
    state.map.createPane("coverage");  // under the zones, tracks and vessels (style.css)
    state.anomalyLayer = L.layerGroup().addTo(state.map);
    state.encounterLayer = L.layerGroup().addTo(state.map);  // the selected encounter (encounters.js)
    state.meetingLayer = L.layerGroup().addTo(state.map);
    state.coverage = L.layerGroup();
    state.coverageLegend = coverageLegend();
    if (document.getElementById("coverage-toggle").checked) {
      state.coverage.addTo(state.map); state.coverageLegend.addTo(state.map);
    }
    Basemap.attach(state.map, config);  // the offline map, and the online tiles when configured (basemap.js)
  }
  const kinds = document.getElementById("filter-kind");
  if (kinds.options.length === 1) for (const kind of config.kinds) kinds.appendChild(el("option", { value: kind }, kind));
  await Promise.all([loadZones(), loadVessels(), loadAlerts(), loadCoverage()]);
  if (!state.coverageTimer) state.coverageTimer = setInterval(loadCoverage, COVERAGE_REFRESH);
  connectLive();
}

async function loadZones() {
  const zones = await api("/api/zones");
  Basemap.showPorts(zones);
  L.geoJSON(zones, {
    style: (feature) => ({ className: "zone zone-" + feature.properties.kind, weight: 1,
                           color: feature.properties.country === "KP" ? "#d1242f" : "#8250df", fillOpacity: 0.15 }),
    onEachFeature: (feature, layer) => layer.bindTooltip(el("span", {}, feature.properties.name)),
  }).addTo(state.map).bringToBack();  // under what the alerts draw, whichever answer came first
}

function arrow(heading, watched) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", "14"); svg.setAttribute("height", "14"); svg.setAttribute("viewBox", "-7 -7 14 14");
  const shape = document.createElementNS(ns, heading === null || heading === undefined ? "circle" : "path");
  if (shape.tagName === "circle") shape.setAttribute("r", "4");
  else { shape.setAttribute("d", "M0,-7 L5,6 L0,3 L-5,6 Z"); shape.setAttribute("transform", `rotate(${Number(heading)})`); }
  shape.setAttribute("fill", watched ? "#ff3b30" : "#1f6feb");
  shape.setAttribute("stroke", "#fff"); shape.setAttribute("stroke-width", watched ? "1.5" : "0.5");
  svg.appendChild(shape);
  return svg;
}

function placeVessel(v) {
  if (v.lat === null || v.lon === null) return;
  const heading = v.heading !== null && v.heading !== undefined ? v.heading : v.cog;
  const icon = L.divIcon({ html: arrow(heading, v.watched), iconSize: [14, 14],
                           className: "vessel-marker " + (v.watched ? "watched" : "other") });
  const title = v.name || String(v.mmsi);
  let marker = state.markers.get(v.mmsi);
  if (marker) { marker.setLatLng([v.lat, v.lon]); marker.setIcon(icon); return; }
  marker = L.marker([v.lat, v.lon], { icon, title, zIndexOffset: v.watched ? 1000 : 0 }).addTo(state.map);
  marker.on("click", () => selectVessel(v.mmsi));
  state.markers.set(v.mmsi, marker);
}

async function loadVessels() {
  const data = await api("/api/map");
  for (const v of data.vessels) placeVessel(v);
}

// -------------------------------------------------------------------------------------- coverage
// The receiving stations and areas the service judges (/api/reception), in the viewport: each one's
// bounds as a rectangle coloured by its state, an outage also as a dot that shows at any zoom.
const COVERAGE_REFRESH = 60000;  // ms; a reception alert arriving live refreshes at once
const COVERAGE_MIN_SPAN = 0.1;  // degrees: bounds of one position, or a line of them, still show as a box

function viewportBox() {
  // west,south,east,north within -180..180 (west > east crosses the antimeridian); none for the world.
  const b = state.map.getBounds();
  if (b.getEast() - b.getWest() >= 360) return null;
  const wrap = (lon) => (lon < -180 || lon > 180 ? ((((lon + 180) % 360) + 360) % 360) - 180 : lon);
  const clamp = (lat) => Math.max(-90, Math.min(90, lat));
  return [wrap(b.getWest()), clamp(b.getSouth()), wrap(b.getEast()), clamp(b.getNorth())]
    .map((v) => v.toFixed(4)).join(",");
}

function coverageMoved() {
  clearTimeout(state.coverageMoved);
  state.coverageMoved = setTimeout(loadCoverage, 300);
}

function coverageClass(item, kind) {
  // coverage-outage, or coverage-ok with how an area is heard (satellite-only areas look different).
  const how = kind === "stations" ? "station" : (item.reception || "unknown");
  return `coverage coverage-${kind === "stations" ? "station" : "area"} coverage-${item.state} coverage-${how}`;
}

const COVERAGE_STYLE = {
  outage: { color: "#ff3b30", weight: 2.5, fillOpacity: 0.25 },
  station: { color: "#39c5cf", weight: 1, fillOpacity: 0.04 },
  terrestrial: { color: "#3fb950", weight: 1, fillOpacity: 0.03 },
  satellite: { color: "#d29922", weight: 1.5, fillOpacity: 0.06, dashArray: "6 4" },
  unknown: { color: "#8b949e", weight: 1, fillOpacity: 0.02, dashArray: "2 4" },
};

function shortTime(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : null;
}

function coverageTooltip(item, kind) {
  const lines = [
    [kind === "stations" ? "station" : "area", item.source, kind === "areas" && item.reception !== "unknown" ? item.reception : null],
    [item.state === "outage" ? "OUTAGE" : "ok", item.since && "since " + shortTime(item.since)],
    [item.per_hour !== null ? `${item.per_hour} msg/h usually` : "rate not judged", `${item.vessels} vessels`],
    [item.last_message && "last heard " + shortTime(item.last_message)],
  ];
  const box = el("div", { className: "coverage-tip" });
  box.appendChild(el("strong", {}, item.label));
  for (const parts of lines) {
    const text = parts.filter((p) => p !== null && p !== undefined && p !== "").join(" · ");
    if (text) box.appendChild(el("div", {}, text));
  }
  return box;
}

function coverageShape(item, kind) {
  let [south, west, north, east] = item.bounds;
  const padLat = Math.max(0, COVERAGE_MIN_SPAN - (north - south)) / 2;
  const padLon = Math.max(0, COVERAGE_MIN_SPAN - (east - west)) / 2;
  south -= padLat; north += padLat; west -= padLon; east += padLon;
  const how = item.state === "outage" ? "outage" : kind === "stations" ? "station" : (item.reception || "unknown");
  const options = { ...COVERAGE_STYLE[how], pane: "coverage", className: coverageClass(item, kind) };
  const shapes = [L.rectangle([[south, west], [north, east]], options)];
  if (item.state === "outage") {
    shapes.push(L.circleMarker([(south + north) / 2, (west + east) / 2],
                               { ...options, radius: 6, fillOpacity: 0.8, className: options.className + " coverage-dot" }));
  }
  for (const shape of shapes) shape.bindTooltip(coverageTooltip(item, kind), { sticky: true });
  return shapes;
}

async function loadCoverage() {
  if (!state.token || !state.map || !state.coverage) return;  // signed out: the timer asks nothing
  if (!state.map.hasLayer(state.coverage)) return;  // switched off: nothing asked
  const box = viewportBox();
  let data;
  try {
    data = await api("/api/reception" + (box ? "?bbox=" + encodeURIComponent(box) : ""));
  } catch (err) {
    clearCoverage();  // reception off here, or no pipeline: nothing to draw
    return;
  }
  if (!state.map.hasLayer(state.coverage)) return;  // switched off while asking
  // A shape is redrawn only when its box or its colour changes; otherwise its tooltip is updated in
  // place, so a refresh neither flickers nor closes the tooltip an operator is reading.
  const seen = new Set();
  for (const kind of ["areas", "stations"]) {
    for (const item of data[kind] || []) {
      if (!item.bounds) continue;
      seen.add(item.id);
      const look = JSON.stringify([kind, item.bounds, item.state, item.reception]);
      const drawn = state.coverageShapes.get(item.id);
      if (drawn && drawn.look === look) {
        for (const shape of drawn.shapes) shape.setTooltipContent(coverageTooltip(item, kind));
        continue;
      }
      if (drawn) for (const shape of drawn.shapes) state.coverage.removeLayer(shape);
      const shapes = coverageShape(item, kind);
      for (const shape of shapes) state.coverage.addLayer(shape);
      state.coverageShapes.set(item.id, { look, shapes, outage: item.state === "outage" });
    }
  }
  for (const [id, drawn] of state.coverageShapes) {
    if (seen.has(id)) continue;
    for (const shape of drawn.shapes) state.coverage.removeLayer(shape);
    state.coverageShapes.delete(id);
  }
  // Outages on top: a red box is never hidden under an ok one.
  for (const drawn of state.coverageShapes.values()) if (drawn.outage) for (const shape of drawn.shapes) shape.bringToFront();
}

function clearCoverage() {
  state.coverage.clearLayers();
  state.coverageShapes.clear();
}

function coverageLegend() {
  const legend = L.control({ position: "bottomleft" });
  legend.onAdd = () => {
    const box = el("div", { className: "coverage-legend" });
    for (const [look, text] of [["outage", "reception lost"], ["station", "station"], ["terrestrial", "area, terrestrial"],
                                ["satellite", "area, satellite only"], ["unknown", "area, not yet known"]]) {
      const row = el("div");
      row.appendChild(el("span", { className: "swatch swatch-" + look }));
      row.appendChild(document.createTextNode(text));
      box.appendChild(row);
    }
    return box;
  };
  return legend;
}

function toggleCoverage() {
  if (!state.map) return;
  if (document.getElementById("coverage-toggle").checked) {
    state.coverage.addTo(state.map); state.coverageLegend.addTo(state.map); loadCoverage();
  } else { state.coverage.remove(); state.coverageLegend.remove(); clearCoverage(); }
}

// ---------------------------------------------------------------------------------------- alerts
// Reception and feed alerts are about a station, an area or a feed, not a vessel: their place is the title.
function alertTitle(a) {
  if (a.vessel_name) return a.vessel_name;
  return a.mmsi ? String(a.mmsi) : (a.place || "");
}

function alertMeta(a) {
  const d = a.details || {};
  const when = a.occurred_at && a.occurred_at.replace("T", " ").replace("Z", " UTC");
  // In a zone (the place), where in it: "at sea, 9 nm SE of Chongjin" (details.where).
  const where = typeof d.where === "string" && d.where !== a.place ? d.where : null;
  if (a.vessel_name || a.mmsi) return [a.place, where, when, a.imo && "IMO " + a.imo];
  const parts = [where, when];
  if (a.kind === "reception_loss") {
    parts.push(d.reason, Number.isFinite(d.vessels_last_heard) ? `${d.vessels_last_heard} vessels last heard there` : null);
  } else if (a.kind === "reception_restored" && Number.isFinite(d.outage_seconds)) {
    parts.push(`down ${Math.round(d.outage_seconds / 60)} min`);
  }
  return parts;
}

// What the alert says in a line, for the kinds whose details tell more than the title: the reason a
// position is not believed, the identity fields that changed, the draught, the vessels of an area.
const ANOMALY_REASONS = { impossible_speed: "impossible speed", track_conflict: "track conflict",
                          on_land: "on land", gnss_interference: "GNSS interference" };
const IDENTITY_LABELS = { name: "name", call_sign: "call sign", imo: "IMO", ship_type: "ship type",
                          mmsi: "MMSI", flag: "flag" };

function finite(...values) {
  return values.every((v) => typeof v === "number" && Number.isFinite(v));
}

function miles(value) {
  return (value >= 10 ? String(Math.round(value)) : value.toFixed(1)) + " nm";
}

function distanceNm(lat1, lon1, lat2, lon2) {
  const rad = Math.PI / 180, h = Math.sin((lat2 - lat1) * rad / 2) ** 2
    + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin((lon2 - lon1) * rad / 2) ** 2;
  return 2 * 3440.065 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function realPosition(a) {
  const real = (a.details || {}).real_position;
  return real && finite(real.lat, real.lon, a.lat, a.lon) ? real : null;
}

function alertDetail(a) {
  const d = a.details || {};
  if (a.kind === "encounter" || a.kind === "loitering") return encounterDetail(a);
  if (a.kind === "position_anomaly") {
    const real = realPosition(a);
    const distance = finite(d.distance_nm) ? d.distance_nm : real ? distanceNm(a.lat, a.lon, real.lat, real.lon) : null;
    return [ANOMALY_REASONS[d.reason] || d.reason, distance !== null ? miles(distance) + " from its track" : "no track to compare",
            d.main_track_moved ? "its main track moved" : null,
            finite(d.fixes) && d.fixes > 1 ? `${d.fixes} fixes` : null].filter(Boolean).join(" · ");
  }
  if (a.kind === "identity_change") {
    const fields = d.fields && typeof d.fields === "object" ? d.fields : {};
    const order = [...Object.keys(IDENTITY_LABELS), ...Object.keys(fields).filter((f) => !(f in IDENTITY_LABELS))];
    const parts = order.filter((f) => fields[f]).map((f) =>
      `${IDENTITY_LABELS[f] || f} ${fields[f].old ?? "—"} → ${fields[f].new ?? "—"}`);
    if (d.conflict) {
      parts.push("conflict: both heard" + (finite(d.conflict.distance_nm) ? " " + miles(d.conflict.distance_nm) + " apart" : ""));
    }
    return parts.join("; ");
  }
  if (a.kind === "draught_change") {
    return `draught ${d.old ?? "—"} → ${d.new ?? "—"} m` + (d.while_dark ? ", while dark" : "");
  }
  if (a.kind === "gnss_interference") {
    const count = finite(d.vessel_count) ? d.vessel_count : Array.isArray(d.vessels) ? d.vessels.length : null;
    return count !== null ? `${count} vessels` : null;
  }
  return null;
}

// A position anomaly on the map: a marker at the false position, a dashed line to where the ship really
// was (and a small ring there). Drawn for the alerts the list shows.
function drawAnomaly(a) {
  if (!state.anomalyLayer) return;
  const drawn = state.anomalies.get(a.id);
  if (drawn) { state.anomalyLayer.removeLayer(drawn); state.anomalies.delete(a.id); }
  if (a.kind !== "position_anomaly" || !finite(a.lat, a.lon) || !matchesFilter(a)) return;
  const reason = ANOMALY_REASONS[(a.details || {}).reason] ? a.details.reason : "other";
  const faded = a.state === "open" ? 1 : 0.5;
  const tip = () => el("span", {}, [alertTitle(a), alertDetail(a)].filter(Boolean).join(" — "));
  const group = L.layerGroup();
  const real = realPosition(a);
  if (real) {
    L.polyline([[a.lat, a.lon], [real.lat, real.lon]], { color: "#ff3b30", weight: 2, dashArray: "6 6", opacity: faded,
                                                        className: `anomaly-line anomaly-${reason}` })
      .bindTooltip(tip(), { sticky: true }).addTo(group);
    L.circleMarker([real.lat, real.lon], { radius: 4, color: "#3fb950", weight: 2, fillOpacity: 0, opacity: faded,
                                          className: "anomaly-real" })
      .bindTooltip(el("span", {}, "where it really was" + (real.time ? " at " + shortTime(real.time) : ""))).addTo(group);
  }
  const marker = L.circleMarker([a.lat, a.lon], { radius: 7, color: "#ff3b30", weight: 2, fillColor: "#ffd60a",
                                                  fillOpacity: 0.9 * faded, opacity: faded, className: `anomaly anomaly-${reason}` })
    .bindTooltip(tip()).addTo(group);
  if (a.mmsi) marker.on("click", () => selectVessel(a.mmsi));
  state.anomalyLayer.addLayer(group);
  state.anomalies.set(a.id, group);
}

function alertItem(a) {
  const item = el("li", { className: "alert", dataset: { id: a.id, kind: a.kind, state: a.state, severity: a.severity } });
  const head = el("div", { className: "alert-head" });
  head.appendChild(el("span", { className: "alert-kind" }, a.kind.replaceAll("_", " ")));
  head.appendChild(el("span", { className: "alert-state" }, a.state));
  item.appendChild(head);
  item.appendChild(el("div", { className: "alert-name" }, alertTitle(a)));
  item.appendChild(el("div", { className: "alert-meta" }, alertMeta(a).filter(Boolean).join(" · ")));
  const detail = alertDetail(a);
  if (detail) item.appendChild(el("div", { className: "alert-detail" }, detail));
  if (a.state === "open") {
    const actions = el("div", { className: "alert-actions" });
    const note = el("input", { className: "ack-note", placeholder: "note", "aria-label": "note" });
    const ack = el("button", { className: "ack", type: "button" }, "Acknowledge");
    note.addEventListener("click", (e) => e.stopPropagation());
    ack.addEventListener("click", async (e) => {
      e.stopPropagation();
      try { showAlert(await api(`/api/alerts/${a.id}/ack`, { method: "POST", body: JSON.stringify({ note: note.value }) })); }
      catch (err) { ack.textContent = "failed: " + err.message; }
    });
    actions.appendChild(note); actions.appendChild(ack); item.appendChild(actions);
  }
  item.addEventListener("click", () => {
    if (a.kind === "encounter") { showEncounter(a); return; }  // both tracks, fitted: encounters.js
    if (a.lat !== null && a.lat !== undefined && a.lon !== null && a.lon !== undefined) state.map.setView([a.lat, a.lon], Math.max(state.map.getZoom(), 9));
    if (a.mmsi) selectVessel(a.mmsi);
  });
  return item;
}

function matchesFilter(a) {
  const kind = document.getElementById("filter-kind").value, st = document.getElementById("filter-state").value;
  return (!kind || a.kind === kind) && (!st || a.state === st);
}

function showAlert(a) {
  state.alerts.set(a.id, a);
  drawAnomaly(a);
  drawMeeting(a);
  const list = document.getElementById("alerts");
  const old = list.querySelector(`li.alert[data-id="${Number(a.id)}"]`);
  if (!matchesFilter(a)) { if (old) dropAlertItem(old); return; }  // incidents.js
  const item = alertItem(a);
  if (old) { old.replaceWith(item); incidentTouched(a.incident_id); return; }
  if (placeInIncident(list, item, a)) return;  // under its incident's row (incidents.js)
  // Newest first by event time (an incident's row by its latest alert's).
  const after = [...list.children].find((li) => (li.dataset.latest || (state.alerts.get(Number(li.dataset.id)) || {}).occurred_at) < a.occurred_at);
  list.insertBefore(item, after || null);
}

async function loadAlerts() {
  const params = new URLSearchParams({ limit: "200" });
  const kind = document.getElementById("filter-kind").value, st = document.getElementById("filter-state").value;
  if (kind) params.set("kind", kind);
  if (st) params.set("state", st);
  // Two filter changes in a row ask twice; answers may come back in either order, and only the last
  // asked is the list the filters now say.
  const asked = ++state.alertsAsked;
  const data = await api("/api/alerts?" + params);
  if (asked !== state.alertsAsked) return;
  document.getElementById("alerts").replaceChildren();
  if (state.anomalyLayer) state.anomalyLayer.clearLayers();
  state.anomalies.clear();
  if (state.meetingLayer) state.meetingLayer.clearLayers();
  state.meetings.clear();
  for (const a of data.alerts.reverse()) showAlert(a);
}

// ------------------------------------------------------------------------------------------ live
function connectLive() {
  const status = document.getElementById("live-status");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/live?token=${encodeURIComponent(state.token)}`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    status.textContent = "live"; status.classList.add("live"); state.retry = 1000; sendViewport();
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "alert") {
      showAlert(message.alert);
      if (message.alert.kind.startsWith("reception_")) loadCoverage();
      fleetAlert();  // fleet.js: the board asks again
    }
    else if (message.type === "incident") incidentChanged(message.incident);  // incidents.js
    else if (message.type === "position") { placeVessel(message); fleetPosition(message); }  // fleet.js
  });
  socket.addEventListener("close", (event) => {
    status.textContent = "reconnecting"; status.classList.remove("live");
    if (!state.token) return;
    // 1008: the server closed it because the token was revoked or expired; asking again cannot help.
    if (event.code === 1008) { signOut("Your token was revoked or has expired: " + (event.reason || "")); return; }
    setTimeout(async () => { await loadAlerts().catch(() => {}); connectLive(); }, state.retry);
    state.retry = Math.min(state.retry * 2, 30000);
  });
}

function sendViewport() {
  // Every vessel in view when zoomed in; only the watchlisted ones (always sent) when zoomed out.
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return;
  const b = state.map.getBounds();
  const viewport = state.map.getZoom() >= 7 ? [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()] : null;
  state.socket.send(JSON.stringify({ viewport }));
}

// ---------------------------------------------------------------------------------- vessel panel
// `withTrack` false: an encounter draws its own window of this vessel's track, and its partner's.
async function selectVessel(mmsi, withTrack = true) {
  state.selected = mmsi;
  if (withTrack) clearEncounter();
  const data = await api(`/api/vessels/${mmsi}`);
  const v = data.vessel;
  document.getElementById("vessel").hidden = false;
  document.getElementById("vessel-name").textContent = v.name || String(v.mmsi);
  const identity = document.getElementById("vessel-identity");
  identity.replaceChildren();
  for (const [label, value] of [["MMSI", v.mmsi], ["IMO", v.imo], ["Call sign", v.call_sign], ["Flag", v.flag],
                                ["Destination", v.destination], ["Last seen", v.last_seen],
                                ["Position", v.last_lat !== null ? `${v.last_lat.toFixed(4)}, ${v.last_lon.toFixed(4)}` : null],
                                ["Speed / course", v.last_sog !== null ? `${v.last_sog} kn / ${v.last_cog}°` : null]]) {
    identity.appendChild(el("dt", {}, label)); identity.appendChild(el("dd", {}, value ?? "—"));
  }
  const list = (id, items, text) => { const ul = document.getElementById(id); ul.replaceChildren(...items.map((i) => el("li", {}, text(i)))); };
  list("vessel-watchlist", data.watchlist, (e) => `${e.name || e.key} — ${e.reason || ""} (${e.source})`);
  list("vessel-history", data.identity_history, (h) => `${h.time}: ${h.field} ${h.old_value ?? "—"} → ${h.new_value}`);
  list("vessel-gaps", data.gaps, (g) => `${g.from} → ${g.to} (${(g.seconds / 3600).toFixed(1)} h)`);
  const calls = await api(`/api/port-calls?vessel=${mmsi}&limit=10`);
  list("vessel-calls", calls.port_calls.slice(-10).reverse(),
       (c) => `${c.port_name} (${c.country}): ${c.arrival} → ${c.departure || "in port"} [${c.evidence}]`);
  if (withTrack) await showTrack(mmsi, calls.port_calls);
  else clearTrack();
  // The same hull under other MMSIs (the IMO they share): a rename and re-flag read as one story.
  const story = await api(`/api/vessels/${mmsi}/identity`).catch(() => ({ same_imo: [] }));
  list("vessel-same-imo", story.same_imo, (o) =>
    `${o.mmsi} ${o.name || "—"} (${o.flag || "?"}): ${shortTime(o.first_seen) || "—"} → ${shortTime(o.last_seen) || "—"}`);
}

function clearTrack() {
  if (state.track) state.track.remove();
  if (state.calls) state.calls.remove();
  state.track = state.calls = null;
}

async function showTrack(mmsi, portCalls) {
  const days = Number(document.getElementById("track-days").value);
  const since = new Date(serverNow() - days * 86400000).toISOString();
  const track = await api(`/api/vessels/${mmsi}/track?format=geojson&since=${encodeURIComponent(since)}&limit=20000`);
  clearTrack();
  state.track = L.geoJSON(track, { style: { color: "#ff9500", weight: 2, className: "track" } }).addTo(state.map);
  state.calls = L.layerGroup(portCalls.filter((c) => c.lat !== null).map((c) =>
    L.circleMarker([c.lat, c.lon], { radius: 6, className: "port-call", color: "#ff3b30" })
      .bindTooltip(el("span", {}, `${c.port_name}: ${c.arrival}`)))).addTo(state.map);
}

// ---------------------------------------------------------------------------------------- wiring
document.getElementById("signin-form").addEventListener("submit", signIn);
document.getElementById("signout").addEventListener("click", () => signOut());
document.getElementById("filter-kind").addEventListener("change", loadAlerts);
document.getElementById("filter-state").addEventListener("change", loadAlerts);
document.getElementById("coverage-toggle").addEventListener("change", toggleCoverage);
document.getElementById("track-days").addEventListener("change", () => state.selected && selectVessel(state.selected));
if (state.token) signIn();
