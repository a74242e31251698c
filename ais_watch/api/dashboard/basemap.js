// The offline basemap: land, coastline, borders and country names from the service's own tiles
// (/basemap/{z}/{x}/{y}.json, Natural Earth, see ais_watch/basemap.py) drawn on canvas tiles, and the names
// of the ports the service watches. Nothing is fetched from anywhere but the service: an air-gapped watch
// floor sees where land is and where Rajin is. With `dashboard.tile_url` set, a layer control switches
// between the online tiles and this map.
// Loaded before app.js, which calls Basemap.attach(map, config) once and Basemap.showPorts(zones) with
// /api/zones. Port and country names reach the page as text (textContent), never as HTML.
"use strict";

const Basemap = (() => {
  const MAX_ZOOM = 10;  // the service's deepest tiles (ais_watch/basemap.py MAX_ZOOM); deeper zooms scale them
  const DISPLAY_MAX_ZOOM = 18;
  const STYLE = {
    land: "#ebe7dd",
    coast: "#71879a",
    border: "#9c7d92",
  };
  const LABEL_GAP = 5;  // px between a port's dot and its name
  // Tiles fetched at once: a browser opens 6 connections to the service, and a tile waiting to be cut
  // (the first seconds after start) holds one; the rest stay free for the alerts and vessels.
  const MAX_FETCHES = 3;
  const CHOICE_KEY = "ais-watch-basemap";  // the base layer a user picked, kept in this browser
  const OFFLINE_NAME = "Offline map (Natural Earth)";
  const ONLINE_NAME = "Online tiles";
  const stats = { tilesDrawn: 0, landRings: 0, errors: 0 };
  const parents = new Map();  // "z/x/y" -> Promise of a zoom-MAX_ZOOM tile, for the zooms past it
  let map = null;
  let labelLayer = null;
  let placeTimer = null;
  const ports = [];  // { marker, text, name }: in priority order (the order the service lists them)
  const countries = new Map();  // name -> { marker, text, tiles: Set of tile keys }
  const tileLabels = new WeakMap();  // a tile's canvas -> its country-name features
  const unloaded = new WeakSet();  // tiles' canvases Leaflet has dropped

  function el(tag, className, text) {
    const node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // --------------------------------------------------------------------------------------- tiles
  const waiting = [];  // fetches not started yet: { start, resolve, reject, wanted }
  let fetching = 0;

  function pump() {
    while (fetching < MAX_FETCHES && waiting.length) {
      const next = waiting.shift();
      if (!next.wanted()) { next.reject(new Error("tile no longer shown")); continue; }
      fetching += 1;
      next.start().then(next.resolve, next.reject).finally(() => { fetching -= 1; pump(); });
    }
  }

  function tileJson(z, x, y, wanted = () => true) {
    return new Promise((resolve, reject) => {
      const start = () => fetch(`/basemap/${z}/${x}/${y}.json`).then((response) => {
        if (!response.ok) throw new Error(`basemap tile ${z}/${x}/${y}: ${response.status}`);
        return response.json();
      });
      waiting.push({ start, resolve, reject, wanted });
      pump();
    });
  }

  function parentTile(z, x, y) {
    // Past MAX_ZOOM every tile is a part of one at MAX_ZOOM: fetched once for all its parts.
    const key = `${z}/${x}/${y}`;
    let found = parents.get(key);
    if (!found) {
      found = tileJson(z, x, y);
      found.catch(() => parents.delete(key));
      parents.set(key, found);
      if (parents.size > 64) parents.delete(parents.keys().next().value);
    }
    return found;
  }

  // Degrees to pixels of a tile: web mercator at zoom z, from the tile's top-left corner.
  function projector(z, x, y) {
    const scale = 256 * 2 ** z;
    return (lon, lat) => {
      const sin = Math.sin(Math.max(-89.9, Math.min(89.9, lat)) * Math.PI / 180);
      const px = ((lon + 180) / 360) * scale - x * 256;
      const py = (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * scale - y * 256;
      return [px, py];
    };
  }

  function tracePolygon(ctx, rings, project) {
    for (const ring of rings) {
      ring.forEach(([lon, lat], i) => {
        const [px, py] = project(lon, lat);
        if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.closePath();
      stats.landRings += 1;
    }
  }

  function traceLine(ctx, line, project) {
    line.forEach(([lon, lat], i) => {
      const [px, py] = project(lon, lat);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
  }

  function draw(canvas, data, coords, ratio) {
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    const project = projector(coords.z, coords.x, coords.y);
    for (const feature of data.features) {
      const layer = feature.properties.layer;
      const geometry = feature.geometry;
      if (layer === "land") {
        // Each polygon is cut a few pixels beyond the tile: the outline stroked inside it is the coast.
        ctx.beginPath();
        for (const polygon of geometry.coordinates) tracePolygon(ctx, polygon, project);
        ctx.fillStyle = STYLE.land;
        ctx.fill("evenodd");
        ctx.strokeStyle = STYLE.coast;
        ctx.lineWidth = coords.z >= 8 ? 1.2 : 0.8;
        ctx.stroke();
      } else if (layer === "borders") {
        ctx.beginPath();
        for (const line of geometry.coordinates) traceLine(ctx, line, project);
        ctx.strokeStyle = STYLE.border;
        ctx.lineWidth = 1;
        ctx.setLineDash([4, 3]);
        ctx.stroke();
        ctx.setLineDash([]);
      }
    }
    stats.tilesDrawn += 1;
  }

  const OfflineLayer = L.GridLayer.extend({
    options: { maxZoom: DISPLAY_MAX_ZOOM, attribution: "Land: Natural Earth", className: "basemap-tiles" },

    createTile(coords, done) {
      const canvas = document.createElement("canvas");
      const size = this.getTileSize();
      const ratio = window.devicePixelRatio || 1;
      canvas.width = size.x * ratio;
      canvas.height = size.y * ratio;
      const deeper = Math.max(0, coords.z - MAX_ZOOM);
      const loaded = deeper
        ? parentTile(MAX_ZOOM, Math.floor(coords.x / 2 ** deeper), Math.floor(coords.y / 2 ** deeper))
        : tileJson(coords.z, coords.x, coords.y, () => !unloaded.has(canvas));  // not fetched once gone
      loaded.then((data) => {
        draw(canvas, data, coords, ratio);
        if (!deeper) tileLabels.set(canvas, data.features.filter((f) => f.properties.layer === "label"));
        done(null, canvas);
      }).catch((err) => {
        if (!unloaded.has(canvas)) { stats.errors += 1; done(err, canvas); }
      });
      return canvas;
    },
  });

  // -------------------------------------------------------------------------------------- labels
  // Names are markers in a pane of their own (under the vessels), placed so none covers another or a
  // port's dot: ports first, in the order the service lists them, each beside its dot (right, left,
  // above or below, the first that is free); then country names, centred, where there is room.
  function labelMarker(latlng, className, text) {
    const icon = L.divIcon({ className: "map-label " + className, html: text, iconSize: [0, 0] });
    return L.marker(latlng, { icon, interactive: false, keyboard: false, pane: "basemapLabels" });
  }

  function addCountryLabels(tileKey, features) {
    for (const feature of features) {
      const name = String(feature.properties.name);
      let label = countries.get(name);
      if (!label) {
        const [lon, lat] = feature.geometry.coordinates;
        const text = el("span", "map-label-text", name);
        label = { marker: labelMarker([lat, lon], "country-label", text), text, tiles: new Set(),
                  rank: Number(feature.properties.rank) || 10 };
        countries.set(name, label);
        label.marker.addTo(labelLayer);
      }
      label.tiles.add(tileKey);
    }
    placeSoon();
  }

  function dropCountryLabels(tileKey) {
    for (const [name, label] of countries) {
      label.tiles.delete(tileKey);
      if (!label.tiles.size) { labelLayer.removeLayer(label.marker); countries.delete(name); }
    }
    placeSoon();
  }

  function showPorts(zones) {
    for (const port of ports) labelLayer.removeLayer(port.marker);
    ports.length = 0;
    for (const feature of zones.features || []) {
      const p = feature.properties || {};
      if (p.kind !== "port") continue;
      let latlng = null;
      if (Array.isArray(p.ref_point) && p.ref_point.length === 2) latlng = L.latLng(p.ref_point[1], p.ref_point[0]);
      else latlng = L.geoJSON(feature).getBounds().getCenter();
      const text = el("span", "map-label-text", p.name);
      const marker = labelMarker(latlng, "port-label", text);
      marker.addTo(labelLayer);
      ports.push({ marker, text, name: String(p.name) });
    }
    placeSoon();
  }

  function placeSoon() {
    clearTimeout(placeTimer);
    placeTimer = setTimeout(place, 30);
  }

  function overlaps(a, b) {
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  }

  function place() {
    if (!map || !map.hasLayer(labelLayer)) return;
    const taken = [];
    const dots = ports.map((port) => map.latLngToLayerPoint(port.marker.getLatLng()));
    for (const dot of dots) taken.push({ x: dot.x - 3, y: dot.y - 3, w: 6, h: 6 });
    const put = (text, anchor, offsets) => {
      const w = text.offsetWidth, h = text.offsetHeight;
      for (const [dx, dy] of offsets(w, h)) {
        const box = { x: anchor.x + dx - 2, y: anchor.y + dy - 1, w: w + 4, h: h + 2 };
        if (!taken.some((other) => overlaps(other, box))) {
          taken.push(box);
          text.style.left = dx + "px";
          text.style.top = dy + "px";
          text.classList.remove("map-label-hidden");
          return true;
        }
      }
      text.classList.add("map-label-hidden");
      return false;
    };
    const beside = (w, h) => [[LABEL_GAP, -h / 2], [-LABEL_GAP - w, -h / 2], [-w / 2, -LABEL_GAP - h],
                              [-w / 2, LABEL_GAP]];
    ports.forEach((port, i) => {
      taken.splice(i, 1, { x: 0, y: 0, w: 0, h: 0 });  // its own dot is no obstacle to its name
      put(port.text, dots[i], beside);
      taken[i] = { x: dots[i].x - 3, y: dots[i].y - 3, w: 6, h: 6 };
    });
    for (const label of [...countries.values()].sort((a, b) => a.rank - b.rank)) {
      put(label.text, map.latLngToLayerPoint(label.marker.getLatLng()), (w, h) => [[-w / 2, -h / 2]]);
    }
  }

  // ------------------------------------------------------------------------------------- attach
  function attach(leafletMap, config) {
    map = leafletMap;
    map.createPane("basemapLabels");  // over the zones and tracks, under the vessels (style.css)
    labelLayer = L.layerGroup().addTo(map);
    map.on("zoomend", placeSoon);
    const offline = new OfflineLayer();
    // A tile's key from the (unwrapped) coordinates its load and unload events carry: createTile is given
    // them wrapped round the world.
    offline.on("tileload", (event) => addCountryLabels(offline._tileCoordsToKey(event.coords),
                                                       tileLabels.get(event.tile) || []));
    offline.on("tileunload", (event) => {
      unloaded.add(event.tile);
      dropCountryLabels(offline._tileCoordsToKey(event.coords));
    });
    offline.on("add", () => map.getContainer().classList.add("basemap-offline"));
    offline.on("remove", () => map.getContainer().classList.remove("basemap-offline"));
    if (!config.tile_url) {
      offline.addTo(map);
      return;
    }
    // Online tiles configured: they are the base map (what the setting says), the offline map a choice.
    const online = L.tileLayer(config.tile_url, { maxZoom: DISPLAY_MAX_ZOOM,
                                                  attribution: config.tile_attribution || "" });
    const layers = { [OFFLINE_NAME]: offline, [ONLINE_NAME]: online };
    (layers[localStorage.getItem(CHOICE_KEY)] || online).addTo(map);
    L.control.layers(layers, { "Port names": labelLayer }, { position: "topright" }).addTo(map);
    map.on("baselayerchange", (event) => localStorage.setItem(CHOICE_KEY, event.name));
    map.on("overlayadd", placeSoon);
  }

  return { attach, showPorts, stats, STYLE, MAX_ZOOM };
})();
