// Incidents in the alert feed: the alerts of one incident (a voyage, an encounter and its partner's later
// moves) listed under one row with its title, state, owner and notes, an Acknowledge-incident button
// (acknowledging it acknowledges every open alert in it), a note and an owner to set.
// Loaded before app.js and called only once the page runs, so app.js's el(), api(), state, alertTitle(),
// shortTime(), showAlert() and selectVessel() are there by then. Titles, owners and notes may carry AIS or
// typed text (<B>M&M</B>): they reach the page through el() as text, never as HTML.
"use strict";

const INCIDENT_FETCH_DELAY = 150;  // ms: alerts arriving together (a list load) ask for their incidents once
const INCIDENT_IDS_MAX = 500;  // what one GET /api/incidents?ids= may name
const incidentState = { known: new Map(), pending: new Set(), timer: null };

function incidentGroup(id) {
  return document.querySelector(`#alerts li.incident[data-incident-id="${Number(id)}"]`);
}

// The latest event time among the alerts a group shows: where the group stands in the newest-first feed.
function groupLatest(group) {
  const times = [...group.querySelectorAll("ul.incident-alerts > li.alert")]
    .map((li) => (state.alerts.get(Number(li.dataset.id)) || {}).occurred_at).filter(Boolean);
  return times.length ? times.reduce((a, b) => (a > b ? a : b)) : "";
}

function placeGroup(list, group) {
  group.dataset.latest = groupLatest(group);
  const others = [...list.children].filter((li) => li !== group);
  const time = (li) => li.dataset.latest || (state.alerts.get(Number(li.dataset.id)) || {}).occurred_at || "";
  const after = others.find((li) => time(li) < group.dataset.latest);
  if (group.nextSibling !== (after || null) || group.parentNode !== list) list.insertBefore(group, after || null);
}

function incidentRow(id, first) {
  const group = el("li", { className: "incident", dataset: { incidentId: id, state: "open" } });
  const head = el("div", { className: "incident-head" });
  const title = el("span", { className: "incident-title" }, first ? alertTitle(first) : `Incident #${id}`);
  title.addEventListener("click", () => {
    const incident = incidentState.known.get(Number(id));
    const mmsi = incident ? incident.mmsi : first && first.mmsi;
    if (mmsi) selectVessel(mmsi);
  });
  head.appendChild(title);
  head.appendChild(el("span", { className: "incident-state" }, ""));
  group.appendChild(head);
  group.appendChild(el("div", { className: "incident-meta" }, `Incident #${id}`));
  group.appendChild(el("ul", { className: "incident-notes" }));
  group.appendChild(incidentActions(id));
  group.appendChild(el("ul", { className: "incident-alerts" }));
  return group;
}

function incidentActions(id) {
  const actions = el("div", { className: "incident-actions" });
  const note = el("input", { className: "incident-note", placeholder: "note", "aria-label": "incident note" });
  const ack = el("button", { className: "incident-ack", type: "button" }, "Acknowledge incident");
  const addNote = el("button", { className: "incident-add-note", type: "button" }, "Add note");
  const owner = el("input", { className: "incident-owner", placeholder: "owner", "aria-label": "incident owner" });
  const assign = el("button", { className: "incident-assign", type: "button" }, "Assign");
  const act = (button, request) => async () => {
    const label = button.textContent;
    try {
      const incident = await request();
      note.value = "";
      showIncident(incident);
      await refreshIncidentAlerts(id);
      button.textContent = label;
    } catch (err) { button.textContent = "failed: " + err.message; }
  };
  ack.addEventListener("click", act(ack, () => api(`/api/incidents/${Number(id)}/ack`,
    { method: "POST", body: JSON.stringify({ note: note.value }) })));
  addNote.addEventListener("click", act(addNote, () => (note.value.trim()
    ? api(`/api/incidents/${Number(id)}/notes`, { method: "POST", body: JSON.stringify({ text: note.value }) })
    : Promise.reject(new Error("write a note first")))));
  assign.addEventListener("click", act(assign, () => api(`/api/incidents/${Number(id)}`,
    { method: "PATCH", body: JSON.stringify({ owner: owner.value.trim() || null }) })));
  for (const node of [note, ack, addNote, owner, assign]) actions.appendChild(node);
  return actions;
}

// The row's header from the incident object (GET /api/incidents, the live feed).
function showIncident(incident) {
  incidentState.known.set(incident.id, incident);
  const group = incidentGroup(incident.id);
  if (!group) return;
  group.dataset.state = incident.state;
  group.dataset.severity = incident.severity;
  group.querySelector(".incident-title").textContent = incident.title;
  group.querySelector(".incident-state").textContent = incident.state;
  const count = `${incident.alert_count} alert${incident.alert_count === 1 ? "" : "s"}`;
  group.querySelector(".incident-meta").textContent = [
    `Incident #${incident.id}`, count, incident.owner ? "owner " + incident.owner : "no owner",
    "since " + shortTime(incident.opened_at)].join(" · ");
  group.querySelector(".incident-notes").replaceChildren(...incident.notes.map((n) =>
    el("li", { className: "incident-note-text" }, `${n.author} · ${shortTime(n.at)}: ${n.text}`)));
  const owner = group.querySelector("input.incident-owner");
  if (document.activeElement !== owner) owner.value = incident.owner || "";
  group.querySelector(".incident-ack").hidden = incident.state !== "open";
}

// Its alerts as the store has them now (acknowledged with it): the list follows even without the live feed.
async function refreshIncidentAlerts(id) {
  const data = await api(`/api/incidents/${Number(id)}`);
  showIncident(data.incident);
  for (const a of data.alerts) if (state.alerts.has(a.id)) showAlert(a);
}

function incidentTouched(id) {
  if (id === null || id === undefined) return;
  incidentState.pending.add(Number(id));
  if (incidentState.timer) return;
  incidentState.timer = setTimeout(fetchIncidents, INCIDENT_FETCH_DELAY);
}

async function fetchIncidents() {
  incidentState.timer = null;
  const ids = [...incidentState.pending];
  incidentState.pending.clear();
  for (let i = 0; i < ids.length; i += INCIDENT_IDS_MAX) {
    const chunk = ids.slice(i, i + INCIDENT_IDS_MAX);
    try {
      const data = await api(`/api/incidents?limit=${INCIDENT_IDS_MAX}&ids=${chunk.join(",")}`);
      for (const incident of data.incidents) showIncident(incident);
    } catch (err) { /* the next alert of it asks again */ }
  }
}

// ------------------------------------------------------------------------------- hooks for app.js
// showAlert: an alert that passes the filters goes under its incident's row; false for one with no
// incident (stored before incidents existed), which app.js lists on its own.
function placeInIncident(list, item, a) {
  if (a.incident_id === null || a.incident_id === undefined) return false;
  const group = incidentGroup(a.incident_id) || incidentRow(a.incident_id, a);
  const ul = group.querySelector("ul.incident-alerts");
  const after = [...ul.children].find((li) => (state.alerts.get(Number(li.dataset.id)) || {}).occurred_at < a.occurred_at);
  ul.insertBefore(item, after || null);
  placeGroup(list, group);
  const known = incidentState.known.get(Number(a.incident_id));
  if (known) showIncident(known);
  incidentTouched(a.incident_id);
  return true;
}

// showAlert: an alert the filters now hide; its incident's row goes with its last shown alert.
function dropAlertItem(item) {
  const group = item.closest("li.incident");
  item.remove();
  if (!group) return;
  if (!group.querySelector("li.alert")) group.remove();
  else placeGroup(group.parentNode, group);
}

// The live feed: an incident someone changed (owner, notes, state).
function incidentChanged(incident) {
  showIncident(incident);
}
