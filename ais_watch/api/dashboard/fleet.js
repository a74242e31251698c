// The fleet board: every watched vessel (listed and associated) at a glance, from /api/fleet: its state
// in words ("dark for 7 h", "in Rajin since 14:02", "anomalous: impossible_speed"), how old its last
// position is and where, its open alerts and its last port call. Sorted by the API (click a column
// header; again for the other way); refreshed while open, every FLEET_REFRESH and soon after each live
// alert, and a watched vessel's live position updates its row at once. A click on a row centres the map
// on the vessel and opens its panel.
// Loaded before app.js; its functions run only on a click, a timer or a live alert, so app.js's el(),
// api(), state, serverNow() and selectVessel() are there by then. Names come from AIS and imported lists:
// they reach the page through el() and textContent, never as HTML.
"use strict";

const FLEET_REFRESH = 30000;  // ms between refreshes while the board is open
const FLEET_ALERT_DELAY = 1000;  // ms after a live alert (a burst of them asks once)
const fleetState = { open: false, sort: "state", order: null, rows: [], fetched: 0, asked: 0, timer: null,
                     soon: null, selected: null,
                     live: new Map() };  // MMSI -> its latest position heard live, newer than the board's

function fleetHours(seconds) {
  if (seconds < 3600) return Math.max(0, Math.floor(seconds / 60)) + " min";
  return seconds < 72 * 3600 ? Math.floor(seconds / 3600) + " h" : Math.floor(seconds / 86400) + " d";
}

// Seconds since the board was fetched, on the service's clock (the demo's runs faster).
function fleetElapsed() {
  return Math.max(0, (serverNow() - fleetState.fetched) / 1000);
}

// "14:02" today (UTC, by the service's clock), "2024-03-01 14:02" before.
function fleetSince(iso) {
  if (!iso) return "";
  const today = new Date(serverNow()).toISOString().slice(0, 10);
  return iso.slice(0, 10) === today ? iso.slice(11, 16) : iso.slice(0, 16).replace("T", " ");
}

function fleetStateText(s) {
  if (s.state === "dark") return "dark for " + fleetHours(s.hours * 3600 + fleetElapsed());
  if (s.state === "anomalous") return "anomalous: " + s.reason;
  if (s.state === "in_port") return `in ${s.port} since ${fleetSince(s.since)}`;
  return s.state === "at_sea" ? "at sea" : "not heard";
}

function fleetAge(position) {
  const seconds = position.age_seconds + fleetElapsed();
  return seconds < 60 ? "just now" : fleetHours(seconds) + " ago";
}

function fleetCall(call) {
  if (!call) return "—";
  if (!call.departed) return `${call.port} (in port since ${fleetSince(call.arrived)})`;
  return `${call.port} ${fleetSince(call.arrived)} → ${fleetSince(call.departed)}`;
}

// The row with the newest position known: the board's, or one heard live since (the store writes a
// vessel's latest position a few seconds after its alert, so a refresh may still bring the older one).
// A live position has no place yet: the next refresh names it.
function fleetLatest(r) {
  if (!r.position) return r;
  let newest = r.position;
  for (const mmsi of r.mmsis) {
    const m = fleetState.live.get(mmsi);
    if (m && Date.parse(m.time) > Date.parse(newest.time)) {
      newest = { mmsi, lat: m.lat, lon: m.lon, time: m.time, sog: m.sog, cog: m.cog, heading: m.heading, place: null,
                 age_seconds: (fleetState.fetched - Date.parse(m.time)) / 1000 };
    }
  }
  return newest === r.position ? r : { ...r, position: newest };
}

function fleetRow(board) {
  const r = fleetLatest(board);
  const row = el("tr", { className: "fleet-row", dataset: { key: r.key, state: r.state.state, watch: r.watch.kind } });
  if (r.key === fleetState.selected) row.classList.add("selected");
  const name = el("td", { className: "fleet-name" });
  name.appendChild(el("span", { className: "fleet-vessel" }, r.name));
  if (r.ais_name && r.ais_name !== r.name) name.appendChild(el("span", { className: "fleet-ais" }, "AIS: " + r.ais_name));
  if (r.watch.kind === "associated") {
    name.appendChild(el("span", { className: "fleet-associated", title: r.watch.reason || "" }, "associated"));
  }
  row.appendChild(name);
  row.appendChild(el("td", { className: "fleet-flag" }, r.flag || "—"));
  row.appendChild(el("td", { className: "fleet-state", title: r.state.since ? r.state.since.replace("T", " ").replace("Z", " UTC") : "" },
                     fleetStateText(r.state)));
  const where = el("td", { className: "fleet-position" });
  if (r.position) {
    where.appendChild(el("span", { className: "fleet-age", title: r.position.time }, fleetAge(r.position)));
    if (r.position.place) where.appendChild(el("span", { className: "fleet-place" }, r.position.place));
  } else where.textContent = "—";
  row.appendChild(where);
  row.appendChild(el("td", { className: "fleet-alerts", dataset: { severity: r.alerts.highest || "none" } }, r.alerts.open));
  row.appendChild(el("td", { className: "fleet-severity" }, r.alerts.highest || "—"));
  row.appendChild(el("td", { className: "fleet-call" }, fleetCall(r.last_port_call)));
  if (r.position) {
    row.classList.add("heard");
    row.addEventListener("click", () => fleetSelect(r));
  }
  return row;
}

// The vessel in the middle of what the board leaves of the map (the board covers the map's bottom).
function fleetCentre(lat, lon) {
  if (!state.map) return;  // the page is still starting
  const zoom = Math.max(state.map.getZoom(), 9);
  const covered = fleetState.open ? document.getElementById("fleet").offsetHeight : 0;
  const centre = state.map.project([lat, lon], zoom).add([0, covered / 2]);
  state.map.setView(state.map.unproject(centre, zoom), zoom);
}

function fleetSelect(r) {
  fleetState.selected = r.key;
  for (const tr of document.querySelectorAll("#fleet-rows tr.fleet-row")) tr.classList.toggle("selected", tr.dataset.key === r.key);
  fleetCentre(r.position.lat, r.position.lon);
  selectVessel(r.position.mmsi).catch(() => {});
}

function fleetRender() {
  document.getElementById("fleet-rows").replaceChildren(...fleetState.rows.map(fleetRow));
  document.getElementById("fleet-count").textContent = `${fleetState.rows.length} vessel${fleetState.rows.length === 1 ? "" : "s"}`;
  for (const th of document.querySelectorAll("#fleet-table th[data-sort]")) {
    const on = th.dataset.sort === fleetState.sort;
    th.classList.toggle("sorted", on);
    th.setAttribute("aria-sort", on ? (fleetState.order === "desc" ? "descending" : "ascending") : "none");
  }
}

async function loadFleet() {
  if (!fleetState.open || !state.token) return;  // closed, or signed out
  const params = new URLSearchParams({ sort: fleetState.sort });
  if (fleetState.order) params.set("order", fleetState.order);
  const only = document.getElementById("fleet-state").value;
  if (only) params.set("state", only);
  // A sort clicked twice quickly asks twice: only the last answer is what the board now says.
  const asked = ++fleetState.asked;
  let data;
  try {
    data = await api("/api/fleet?" + params);
  } catch (err) {  // the rows shown stay; the count line says why they were not refreshed
    if (asked === fleetState.asked) document.getElementById("fleet-count").textContent = "not refreshed: " + err.message;
    return;
  }
  if (asked !== fleetState.asked) return;
  fleetState.rows = data.vessels;
  for (const r of data.vessels) {  // live positions the store now has too are the board's again
    for (const mmsi of r.position ? r.mmsis : []) {
      const m = fleetState.live.get(mmsi);
      if (m && Date.parse(m.time) <= Date.parse(r.position.time)) fleetState.live.delete(mmsi);
    }
  }
  fleetState.order = data.order;  // the sort's own order when none was asked
  fleetState.fetched = Date.parse(data.now) || serverNow();
  fleetRender();
}

// The first click on a column sorts by it in its own order (the API's default); the next one reverses.
function fleetSortBy(key) {
  if (fleetState.sort === key) fleetState.order = fleetState.order === "desc" ? "asc" : "desc";
  else { fleetState.sort = key; fleetState.order = null; }
  loadFleet();
}

function toggleFleet() {
  fleetState.open = !fleetState.open;
  document.getElementById("fleet").hidden = !fleetState.open;
  document.getElementById("fleet-toggle").setAttribute("aria-pressed", String(fleetState.open));
  if (fleetState.timer) { clearInterval(fleetState.timer); fleetState.timer = null; }
  if (!fleetState.open) return;
  loadFleet();
  fleetState.timer = setInterval(() => loadFleet(), FLEET_REFRESH);
}

// A watched vessel's position, live (app.js calls this): its row's age and position follow at once; a
// vessel on the board never heard before makes the board ask again.
function fleetPosition(m) {
  if (!fleetState.open) return;
  const r = fleetState.rows.find((row) => row.mmsis.includes(m.mmsi));
  if (!r) return;
  if (!r.position) { fleetAlert(); return; }
  fleetState.live.set(m.mmsi, m);
  const old = document.querySelector(`#fleet-rows tr.fleet-row[data-key="${CSS.escape(r.key)}"]`);
  if (old) old.replaceWith(fleetRow(r));
}

// A live alert may change a vessel's state or its open alerts: ask again shortly (app.js calls this).
function fleetAlert() {
  if (!fleetState.open || fleetState.soon) return;
  fleetState.soon = setTimeout(() => { fleetState.soon = null; loadFleet(); }, FLEET_ALERT_DELAY);
}

// Wired as the page loads (the elements are there: scripts are deferred), so the board answers a click
// even before the map has finished loading.
document.getElementById("fleet-toggle").addEventListener("click", toggleFleet);
document.getElementById("fleet-state").addEventListener("change", () => loadFleet());
for (const th of document.querySelectorAll("#fleet-table th[data-sort]")) {
  th.addEventListener("click", () => fleetSortBy(th.dataset.sort));
}
