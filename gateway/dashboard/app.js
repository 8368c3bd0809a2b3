/* app.js - the dashboard's live part. It reads only this gateway's own
 * endpoints: /dashboard and /system/health every second, the newest
 * anomalies from /events then as they arrive from /events/stream (SSE;
 * where the gateway has none, /events every 2 s), /services/{name}/config
 * for the rates. The first data
 * (15 minutes of per-second counts, an hour of per-minute anomalies by
 * type) comes inline with the page; every poll then adds what the totals
 * grew by. /incidents and POST /inject light up their sections when the
 * gateway has them (probed once: a 404 keeps them hidden). */
"use strict";

(function () {
  const SERVICES = ["transaction-service", "auth-service", "monitoring-service"];
  const POLL_MS = 1000;
  const ANOMALIES_MS = 2000;
  const ANOMALIES_SHOWN = 12;
  const CONFIG_MS = 10000;
  const INCIDENTS_MS = 5000;
  const FETCH_TIMEOUT_MS = 2500;
  const WINDOW_S = 900; /* the rate chart: 15 minutes */
  const BUCKET_S = 5; /* one point of the rate chart */
  const HOUR_MIN = 60; /* the anomalies-by-type chart: an hour */
  const SVG_NS = "http://www.w3.org/2000/svg";

  /* ---------------------------------------------------------------- */
  /* Small helpers                                                     */

  function $(id) {
    return document.getElementById(id);
  }

  /* An element with attributes and children (strings become text). */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const c of children)
      if (c !== null && c !== undefined)
        e.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    if (text !== undefined)
      e.textContent = String(text);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {}))
      if (v !== null && v !== undefined && v !== false)
        e.setAttribute(k, String(v));
  }

  function shortName(svc) {
    return svc.replace(/-service$/, "");
  }

  function fmtInt(n) {
    return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
  }

  function fmtRate(n) {
    if (!Number.isFinite(n))
      return "–";
    return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  }

  function fmtPct(x) {
    return Number.isFinite(x) ? (x * 100).toFixed(2) + "%" : "–";
  }

  function fmtAge(ms) {
    if (!Number.isFinite(ms) || ms < 0)
      return "never";
    if (ms < 10000)
      return (ms / 1000).toFixed(1) + " s";
    if (ms < 120000)
      return Math.round(ms / 1000) + " s";
    if (ms < 7200000)
      return Math.round(ms / 60000) + " min";
    return Math.round(ms / 3600000) + " h";
  }

  function fmtClock(d) {
    return d.toTimeString().slice(0, 8);
  }

  /* fetch with a timeout; resolves to {status, body} (body parsed when JSON). */
  async function call(path, opts) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const r = await fetch(path, Object.assign({ signal: ctl.signal, cache: "no-store" }, opts));
      const text = await r.text();
      let body = text;
      if ((r.headers.get("Content-Type") || "").includes("json")) {
        try {
          body = JSON.parse(text);
        } catch (e) {
          body = text;
        }
      }
      return { status: r.status, body: body };
    } finally {
      clearTimeout(timer);
    }
  }

  /* The API's own words for a failed call: {"error":{"code","message"}}. */
  function apiMessage(res) {
    const e = res && res.body && res.body.error;
    if (e && e.message)
      return e.message + (e.field ? " (" + e.field + ")" : "") + " [" + res.status + "]";
    return "HTTP " + (res ? res.status : "error");
  }

  /* ---------------------------------------------------------------- */
  /* Counts over time                                                  */

  /* n slots of one unit each (a second, a minute), indexed by the unit's
   * number; slots the clock moves past are zeroed. */
  class Ring {
    constructor(n) {
      this.n = n;
      this.slots = new Float64Array(n);
      this.head = null;
    }
    advance(t) {
      if (this.head === null || t - this.head >= this.n) {
        this.slots.fill(0);
        this.head = t;
      }
      for (; this.head < t; this.head++)
        this.slots[(this.head + 1) % this.n] = 0;
    }
    add(t, v) {
      if (this.head === null || t > this.head)
        this.advance(t);
      if (t > this.head - this.n)
        this.slots[t % this.n] += v;
    }
    get(t) {
      return this.head === null || t > this.head || t <= this.head - this.n ? 0 : this.slots[t % this.n];
    }
    sum(from, to) {
      let s = 0;
      for (let t = from; t <= to; t++)
        s += this.get(t);
      return s;
    }
  }

  const initial = (function () {
    try {
      return JSON.parse($("initial").textContent || "{}");
    } catch (e) {
      return {};
    }
  })();
  /* The server's clock, which the inline history is counted by. */
  const skewMs = initial.history ? initial.history.now_ms - Date.now() : 0;
  const nowSec = () => Math.floor((Date.now() + skewMs) / 1000);

  const model = {
    events: {}, /* service -> Ring of seconds */
    anomalies: {},
    byType: {}, /* type -> Ring of minutes */
    typeService: {}, /* type -> service */
    last: null, /* the previous /dashboard */
    health: null,
    config: {}, /* service -> its GET /config, or null */
    features: { incidents: false, inject: false },
  };

  function loadHistory(h, dash) {
    for (const svc of SERVICES) {
      model.events[svc] = new Ring(WINDOW_S);
      model.anomalies[svc] = new Ring(WINDOW_S);
    }
    if (dash && dash.services)
      for (const svc of SERVICES)
        for (const type of Object.keys((dash.services[svc] || {}).anomalies_by_type || {}))
          model.typeService[type] = svc;
    for (const type of Object.keys(model.typeService))
      model.byType[type] = new Ring(HOUR_MIN);
    if (!h)
      return;
    const sec = Math.floor(h.now_ms / 1000), min = Math.floor(sec / 60);
    for (const svc of SERVICES) {
      const ev = (h.events || {})[svc] || [], an = (h.anomalies || {})[svc] || [];
      ev.forEach((v, i) => model.events[svc].add(sec - ev.length + 1 + i, v));
      an.forEach((v, i) => model.anomalies[svc].add(sec - an.length + 1 + i, v));
    }
    for (const [type, arr] of Object.entries(h.anomalies_by_type || {}))
      if (model.byType[type])
        arr.forEach((v, i) => model.byType[type].add(min - arr.length + 1 + i, v));
  }

  /* What the totals grew by since the last poll goes into this second. */
  function addDeltas(dash) {
    const prev = model.last;
    const sec = nowSec(), min = Math.floor(sec / 60);
    model.last = dash;
    if (!prev || !dash.services)
      return;
    for (const svc of SERVICES) {
      const a = prev.services[svc], b = dash.services[svc];
      if (!a || !b)
        continue;
      /* a total that went down is a restarted gateway: nothing to add */
      model.events[svc].add(sec, Math.max(0, b.events - a.events));
      model.anomalies[svc].add(sec, Math.max(0, b.anomalies - a.anomalies));
      for (const [type, n] of Object.entries(b.anomalies_by_type || {})) {
        if (!model.byType[type]) {
          model.byType[type] = new Ring(HOUR_MIN);
          model.typeService[type] = svc;
        }
        model.byType[type].add(min, Math.max(0, n - ((a.anomalies_by_type || {})[type] || 0)));
      }
    }
  }

  /* Events per second of svc over the last `secs` whole seconds. */
  function rateOf(svc, secs) {
    const now = nowSec();
    return model.events[svc].sum(now - secs, now - 1) / secs;
  }

  function realisedAnomalyRate(svc) {
    const now = nowSec();
    const ev = model.events[svc].sum(now - WINDOW_S + 1, now);
    return ev > 0 ? model.anomalies[svc].sum(now - WINDOW_S + 1, now) / ev : NaN;
  }

  function stateOf(svc) {
    const d = model.last && model.last.services ? model.last.services[svc] : null;
    const h = model.health && model.health.services ? model.health.services[svc] : null;
    let st = (d && d.state) || (h && h.state) || "unknown";
    if (st === "ok" && h && h.status === "backfilling")
      st = "backfilling";
    return st;
  }

  /* ---------------------------------------------------------------- */
  /* Service cards                                                     */

  const cards = {};

  function buildCards() {
    const root = $("services");
    for (const svc of SERVICES) {
      const c = {};
      c.badge = el("span", { class: "badge", "data-state": "unknown", "data-role": "state" }, "…");
      c.rate = el("span", {}, "–");
      const dl = el("dl");
      for (const [key, label] of [
        ["age", "data age"],
        ["replicas", "replicas up"],
        ["events", "events received"],
        ["anomalies", "anomalies received"],
        ["setRate", "anomaly rate set"],
        ["seenRate", "anomaly rate seen (15 min)"],
        ["eps", "events/s set"],
      ]) {
        c[key] = el("dd", { "data-field": key }, "–");
        dl.append(el("dt", {}, label), c[key]);
      }
      c.err = el("p", { class: "err", hidden: true });
      c.root = el("article", { class: "card", "data-service": svc, id: "card-" + svc },
        el("div", { class: "head" }, el("h3", {}, svc), c.badge),
        el("div", { class: "big" }, c.rate, el("small", {}, " events/s")),
        dl, c.err);
      cards[svc] = c;
      root.append(c.root);
    }
  }

  function renderCards() {
    const dash = model.last, health = model.health;
    for (const svc of SERVICES) {
      const c = cards[svc];
      const d = dash && dash.services ? dash.services[svc] : null;
      const h = health && health.services ? health.services[svc] : null;
      const st = stateOf(svc);
      c.badge.dataset.state = st;
      c.badge.textContent = st;
      c.root.dataset.state = st;
      c.rate.textContent = fmtRate(rateOf(svc, 10));
      c.age.textContent = fmtAge(d ? d.data_age_ms : h ? h.data_age_ms : NaN);
      c.replicas.textContent = d ? d.replicas_ok + " / " + d.replicas : "–";
      c.events.textContent = d ? fmtInt(d.events) : "–";
      c.anomalies.textContent = d ? fmtInt(d.anomalies) : "–";
      const cfg = model.config[svc];
      c.setRate.textContent = cfg ? fmtPct(cfg.anomaly_rate) : "–";
      c.seenRate.textContent = fmtPct(realisedAnomalyRate(svc));
      c.eps.textContent = cfg ? fmtRate(cfg.events_per_second) : "–";
      const err = h && h.last_error && st !== "ok" ? h.last_error : "";
      c.err.hidden = !err;
      c.err.textContent = err;
    }
  }

  /* ---------------------------------------------------------------- */
  /* Charts: inline SVG                                                */

  /* A round upper bound and its tick step, for an axis from 0 to max. */
  function niceScale(max, ticks) {
    if (!(max > 0))
      return { max: 1, step: 0.25 };
    const raw = max / ticks;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    return { max: step * Math.ceil(max / step), step: step };
  }

  /* Charts are drawn at their box's own width, so that text keeps its
   * size on a phone instead of shrinking with the drawing. */
  function widthOf(id, fallback) {
    return Math.max(300, Math.round($(id).clientWidth || fallback));
  }

  function drawRateChart() {
    const W = widthOf("rate-chart", 720), H = W < 500 ? 200 : 240, L = 48, R = 12, T = 10, B = 24;
    const now = nowSec();
    /* whole buckets only: the current one is still filling */
    const lastBucket = Math.floor(now / BUCKET_S) - 1;
    const n = WINDOW_S / BUCKET_S;
    const series = {};
    let max = 0;
    for (const svc of SERVICES) {
      const pts = [];
      let total = 0;
      for (let i = 0; i < n; i++) {
        const b = lastBucket - n + 1 + i;
        const v = model.events[svc].sum(b * BUCKET_S, b * BUCKET_S + BUCKET_S - 1);
        total += v;
        pts.push(v / BUCKET_S);
      }
      series[svc] = { pts: pts, total: total };
      max = Math.max(max, ...pts);
    }
    const sc = niceScale(max, 4);
    const x = (i) => L + (i / (n - 1)) * (W - L - R);
    const y = (v) => T + (1 - v / sc.max) * (H - T - B);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": "events per second per service, last 15 minutes" });
    for (let v = 0; v <= sc.max + sc.step / 2; v += sc.step) {
      s.append(svg("line", { class: v === 0 ? "axis" : "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      s.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmtRate(v)));
    }
    for (const m of W < 500 ? [15, 5, 0] : [15, 10, 5, 0]) {
      const xi = x(n - 1 - (m * 60) / BUCKET_S);
      s.append(svg("line", { class: "gridline", x1: xi, x2: xi, y1: T, y2: H - B }));
      s.append(svg("text", { x: xi, y: H - 6, "text-anchor": m === 15 ? "start" : m === 0 ? "end" : "middle" },
        m === 0 ? "now" : "−" + m + " min"));
    }
    for (const svc of SERVICES) {
      const pts = series[svc].pts;
      const d = pts.map((v, i) => (i ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1)).join("");
      s.append(svg("path", { class: "line", "data-service": svc, "data-total": series[svc].total, d: d }));
    }
    $("rate-chart").replaceChildren(s);
  }

  function buildLegend() {
    $("rate-legend").replaceChildren(...SERVICES.map((svc) => el("span", { "data-service": svc }, svc)));
  }

  function drawTypeChart() {
    const now = nowSec(), min = Math.floor(now / 60);
    const rows = Object.keys(model.byType)
      .sort((a, b) => SERVICES.indexOf(model.typeService[a]) - SERVICES.indexOf(model.typeService[b]))
      .map((type) => ({ type: type, svc: model.typeService[type],
        n: model.byType[type].sum(min - HOUR_MIN + 1, min) }));
    const W = widthOf("type-chart", 400), ROW = 22, LABEL = 168, COUNT = 44, T = 4;
    const H = T + Math.max(rows.length, 1) * ROW;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "anomalies by type, last hour" });
    const max = Math.max(1, ...rows.map((r) => r.n));
    if (!rows.length)
      s.append(svg("text", { class: "empty", x: 0, y: 16 }, "no anomaly types known yet"));
    rows.forEach((r, i) => {
      const yy = T + i * ROW;
      const w = Math.max(2, (r.n / max) * (W - LABEL - COUNT));
      s.append(svg("text", { class: "bar-label", x: LABEL - 8, y: yy + 15, "text-anchor": "end" },
        r.type.replace(/_/g, " ")));
      s.append(svg("rect", { class: "bar" + (r.n ? "" : " zero"), "data-service": r.svc, "data-type": r.type,
        x: LABEL, y: yy + 4, width: w.toFixed(1), height: ROW - 8, rx: 3 }));
      s.append(svg("text", { class: "bar-count", x: LABEL + w + 6, y: yy + 15 }, fmtInt(r.n)));
    });
    $("type-chart").replaceChildren(s);
  }

  /* ---------------------------------------------------------------- */
  /* Newest anomalies and incidents                                    */

  function detailOf(e) {
    const where = e.location && e.location.city ? " · " + e.location.city : "";
    switch (e.source) {
      case "transaction-service":
        return `${e.amount} ${e.currency || ""} ${e.transaction_type || ""}${where}`;
      case "auth-service":
        return `${e.username || e.customer_id || ""} ${e.result || ""} from ${e.ip_address || "?"}${where}`;
      case "monitoring-service":
        return `${e.host || ""} ${e.metric_name || ""} ${e.metric_value}${e.unit === "percent" ? "%" : " " + (e.unit || "")}`;
      default:
        return "";
    }
  }

  function renderAnomalies(list) {
    const body = $("anomalies").tBodies[0];
    if (!list.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no anomalies in the gateway's buffer")));
      return;
    }
    body.replaceChildren(...list.map((e) => {
      const t = typeof e.timestamp === "string" ? e.timestamp.slice(11, 19) : "";
      const inc = e.incident_id
        ? model.features.incidents
          ? el("button", { type: "button", class: "mono", "data-incident": e.incident_id }, e.incident_id.slice(0, 8))
          : el("span", { class: "mono", title: e.incident_id }, e.incident_id.slice(0, 8))
        : "";
      return el("tr", { class: e.severity ? "sev-" + e.severity : null },
        el("td", { class: "mono" }, t),
        el("td", {}, el("span", { class: "dot", "data-service": e.source }, shortName(e.source || "?"))),
        el("td", { class: "type" }, (e.anomaly_type || "?").replace(/_/g, " ")),
        el("td", {}, detailOf(e)),
        el("td", {}, inc));
    }));
  }

  /* The newest anomalies shown, newest first. */
  let anomalies = [];

  /* Reads them from /events; returns the gateway_sequence a stream
   * follows on after (the page's next_since), or null. */
  async function loadAnomalies() {
    try {
      const r = await call("/events?anomalies_only=true&limit=" + ANOMALIES_SHOWN);
      if (r.status === 200 && r.body && Array.isArray(r.body.events)) {
        anomalies = r.body.events;
        renderAnomalies(anomalies);
        return r.body.next_since;
      }
    } catch (e) {
      /* the banner already says the gateway does not answer */
    }
    return null;
  }

  async function pollAnomalies() {
    await loadAnomalies();
    setTimeout(pollAnomalies, ANOMALIES_MS);
  }

  /* The list once, then each anomaly as the gateway's stream brings it.
   * A stream that never opens (no /events/stream at this gateway) turns
   * to polling; one that ends (overflow, a restarted gateway) starts
   * over from the list. */
  async function followAnomalies() {
    const since = await loadAnomalies();
    if (typeof EventSource !== "function" || !Number.isInteger(since)) {
      setTimeout(followAnomalies, ANOMALIES_MS);
      return;
    }
    const es = new EventSource("/events/stream?anomalies_only=true&since=" + since);
    let opened = false;
    es.onopen = () => {
      opened = true;
    };
    es.onmessage = (m) => {
      let e;
      try {
        e = JSON.parse(m.data);
      } catch (err) {
        return;
      }
      anomalies = [e].concat(anomalies).slice(0, ANOMALIES_SHOWN);
      renderAnomalies(anomalies);
    };
    es.onerror = () => {
      es.close();
      setTimeout(opened ? followAnomalies : pollAnomalies, ANOMALIES_MS);
    };
  }

  async function openIncident(id) {
    const pre = $("incident-events");
    pre.hidden = false;
    pre.textContent = "loading " + id + "…";
    try {
      const r = await call("/incidents/" + encodeURIComponent(id));
      pre.textContent = r.status === 200 ? JSON.stringify(r.body, null, 2) : apiMessage(r);
    } catch (e) {
      pre.textContent = String(e);
    }
  }

  async function pollIncidents() {
    try {
      const r = await call("/incidents?state=open&limit=20");
      const list = r.body && Array.isArray(r.body.incidents) ? r.body.incidents : Array.isArray(r.body) ? r.body : [];
      const open = list.filter((i) => (i.state || i.status || "open") === "open" || i.open === true);
      $("incidents").replaceChildren(...(open.length ? open.slice(0, 20).map((i) => {
        const id = i.incident_id || i.id || "";
        return el("li", {},
          el("button", { type: "button", class: "mono", "data-incident": id }, id.slice(0, 8)), " ",
          i.anomaly_type || i.type || "", " ",
          el("span", { class: "muted" }, [].concat(i.sources || i.source || []).join(", ")));
      }) : [el("li", { class: "muted" }, "no open incidents")]));
    } catch (e) {
      /* shown by the banner */
    }
    setTimeout(pollIncidents, INCIDENTS_MS);
  }

  /* ---------------------------------------------------------------- */
  /* Controls: config and injection                                    */

  const forms = {};

  function authHeaders() {
    const token = $("token").value.trim();
    return token ? { Authorization: "Bearer " + token } : {};
  }

  function buildConfigForms() {
    const root = $("config-forms");
    for (const svc of SERVICES) {
      const f = {};
      f.rate = el("input", { name: "anomaly_rate", type: "number", min: 0, max: 0.5, step: "any",
        inputmode: "decimal", placeholder: "0.02" });
      f.eps = el("input", { name: "events_per_second", type: "number", min: 0.01, max: 5000, step: "any",
        inputmode: "decimal", placeholder: "100" });
      f.button = el("button", { type: "submit", "data-action": "apply" }, "Apply");
      f.msg = el("p", { class: "msg", role: "status" });
      f.form = el("form", { class: "config-form", id: "cfg-" + svc, "data-service": svc },
        el("span", { class: "name dot", "data-service": svc }, svc),
        el("label", {}, "anomaly_rate (0–0.5)", f.rate),
        el("label", {}, "events_per_second", f.eps),
        f.button, f.msg);
      f.form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        applyConfig(svc);
      });
      for (const input of [f.rate, f.eps])
        input.addEventListener("input", () => (input.dataset.dirty = "1"));
      forms[svc] = f;
      root.append(f.form);
    }
  }

  /* Fills the fields with the current values, unless the user typed there. */
  function fillConfigForm(svc) {
    const f = forms[svc], cfg = model.config[svc];
    if (!cfg)
      return;
    if (!f.rate.dataset.dirty)
      f.rate.value = cfg.anomaly_rate;
    if (!f.eps.dataset.dirty)
      f.eps.value = cfg.events_per_second;
  }

  async function applyConfig(svc) {
    const f = forms[svc], body = {};
    if (f.rate.value !== "")
      body.anomaly_rate = Number(f.rate.value);
    if (f.eps.value !== "")
      body.events_per_second = Number(f.eps.value);
    f.button.disabled = true;
    f.msg.className = "msg";
    f.msg.textContent = "saving…";
    try {
      const r = await call("/services/" + svc + "/config", {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, authHeaders()),
        body: JSON.stringify(body),
      });
      if (r.status >= 200 && r.status < 300) {
        f.msg.className = "msg ok";
        f.msg.textContent = "saved";
        delete f.rate.dataset.dirty;
        delete f.eps.dataset.dirty;
        await loadConfig(svc);
      } else {
        f.msg.className = "msg error";
        f.msg.textContent = apiMessage(r);
      }
    } catch (e) {
      f.msg.className = "msg error";
      f.msg.textContent = "the gateway did not answer";
    } finally {
      f.button.disabled = false;
    }
  }

  async function loadConfig(svc) {
    try {
      const r = await call("/services/" + svc + "/config");
      model.config[svc] = r.status === 200 && r.body && typeof r.body === "object" ? r.body : null;
    } catch (e) {
      model.config[svc] = null;
    }
    fillConfigForm(svc);
  }

  async function pollConfig() {
    await Promise.all(SERVICES.map(loadConfig));
    renderCards();
    setTimeout(pollConfig, CONFIG_MS);
  }

  function buildInjectButtons() {
    const root = $("inject-buttons");
    for (const type of Object.keys(model.typeService)) {
      const svc = model.typeService[type];
      const b = el("button", { type: "button", "data-service": svc, "data-type": type }, type.replace(/_/g, " "));
      b.addEventListener("click", () => inject(svc, type));
      root.append(b);
    }
  }

  async function inject(svc, type) {
    const msg = $("inject-msg");
    msg.className = "msg";
    msg.textContent = "injecting " + type + "…";
    try {
      /* through the gateway's proxy to the service that owns the type */
      const r = await call("/services/" + svc + "/inject", {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" }, authHeaders()),
        body: JSON.stringify({ type: type }),
      });
      msg.className = r.status < 300 ? "msg ok" : "msg error";
      msg.textContent = r.status < 300 ? "injected " + type : apiMessage(r);
    } catch (e) {
      msg.className = "msg error";
      msg.textContent = "the gateway did not answer";
    }
  }

  /* Endpoints that come with later versions: present unless 404. A GET
   * on a service's /inject (through the proxy) answers 405 where only
   * POST exists. */
  async function probeFeatures() {
    const [inc, inj] = await Promise.all([
      call("/incidents").catch(() => null),
      call("/services/" + SERVICES[0] + "/inject").catch(() => null),
    ]);
    model.features.incidents = !!inc && inc.status === 200;
    model.features.inject = !!inj && inj.status !== 404;
    $("incidents-panel").hidden = !model.features.incidents;
    $("inject-panel").hidden = !model.features.inject;
    if (model.features.incidents)
      pollIncidents();
    if (model.features.inject)
      buildInjectButtons();
  }

  /* ---------------------------------------------------------------- */
  /* The feed                                                          */

  /* Where the totals come from: /dashboard's counters, polled (the
   * event stream carries events, not the counters of those evicted or
   * the per-second history). A source pushing snapshots can replace
   * start() and call emit() the same way. */
  const feed = {
    handlers: [],
    on(fn) {
      this.handlers.push(fn);
    },
    emit(snapshot) {
      for (const fn of this.handlers)
        fn(snapshot);
    },
    async poll() {
      let snap;
      try {
        const [d, h] = await Promise.all([call("/dashboard"), call("/system/health")]);
        if (d.status !== 200 || typeof d.body !== "object")
          throw new Error("/dashboard answered " + d.status);
        snap = { dashboard: d.body, health: h.status === 200 ? h.body : null, error: null };
      } catch (e) {
        snap = { dashboard: null, health: null, error: e.name === "AbortError" ? "timed out" : e.message };
      }
      this.emit(snap);
      setTimeout(() => this.poll(), POLL_MS);
    },
    start() {
      this.poll();
    },
  };

  function onSnapshot(snap) {
    const banner = $("banner");
    if (snap.error) {
      banner.hidden = false;
      banner.textContent = "The gateway is not answering (" + snap.error + "); retrying every second.";
      $("overall").dataset.state = "unreachable";
      $("overall").textContent = "gateway: unreachable";
      return;
    }
    banner.hidden = true;
    addDeltas(snap.dashboard);
    model.health = snap.health;
    const overall = snap.health ? snap.health.status : "unknown";
    $("overall").dataset.state = overall;
    $("overall").textContent = "overall: " + overall;
    $("updated").textContent = "updated " + fmtClock(new Date()) + " · every " + POLL_MS / 1000 + " s";
    renderCards();
    drawRateChart();
    drawTypeChart();
  }

  /* ---------------------------------------------------------------- */

  loadHistory(initial.history, initial.dashboard);
  model.last = initial.dashboard || null;
  buildCards();
  buildLegend();
  buildConfigForms();
  $("app").hidden = false;
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-incident]");
    if (b)
      openIncident(b.dataset.incident);
  });
  renderCards();
  drawRateChart();
  drawTypeChart();
  window.addEventListener("resize", () => {
    drawRateChart();
    drawTypeChart();
  });
  feed.on(onSnapshot);
  feed.start();
  followAnomalies();
  pollConfig();
  probeFeatures();
})();
