// The lwm2m-mlaas dashboard: pages over the REST API, live from one /api/event stream.
// Values from devices are put in the page as text only (textContent), never as markup.

const TOKEN_KEY = "mlaas-token";
const main = document.getElementById("main");
const errorBox = document.getElementById("error");
const liveBadge = document.getElementById("live");

// ---- DOM ---------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  for (const child of children) el.append(child instanceof Node ? child : String(child));
  return el;
}

function table(columns, rows, empty = "None.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("thead", {}, h("tr", {}, columns.map(([label, , cls]) => h("th", { scope: "col", class: cls }, label)))),
      h("tbody", {}, rows.map((row) => h("tr", {},
        columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row))))))));
}

function bars(counts, { max, format = (n) => n.toLocaleString(), label = "" } = {}) {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return h("p", { class: "muted" }, "None yet.");
  const top = max ?? Math.max(...entries.map(([, n]) => n), 1);
  return h("div", { class: "bars", role: "list", "aria-label": label },
    entries.map(([name, n]) => h("div", { class: "bar-row", role: "listitem" },
      h("span", { class: "name", title: name }, name),
      meter(n, top, `${name}: ${format(n)}`),
      h("span", { class: "num" }, format(n)))));
}

function meter(value, max, label, over = false) {
  const share = max > 0 ? Math.min(value / max, 1) : 0;
  return h("div", { class: over ? "bar over" : "bar", role: "img", "aria-label": label },
    h("span", { style: `width:${(share * 100).toFixed(1)}%` }));
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  return n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

function stateText(state) {
  return h("span", { class: `state-${state}` }, state ?? "");
}

// ---- API ---------------------------------------------------------------------------------

class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${token() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try { message = JSON.parse(text).message ?? text; } catch { /* plain text */ }
    if (response.status === 401) showLogin("The token was refused: log in again.");
    throw new ApiFailure(response.status, `${method} ${path}: ${message || response.status}`);
  }
  return text ? JSON.parse(text) : null;
}

function showError(error) {
  errorBox.textContent = error instanceof Error ? error.message : String(error);
  errorBox.hidden = false;
}

function clearError() {
  errorBox.hidden = true;
  errorBox.textContent = "";
}

window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  showError(event.reason);
});

// an action the operator started: its failure is shown, and the page refreshed after
async function act(button, work) {
  button.disabled = true;
  try {
    clearError();
    await work();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

// ---- login -------------------------------------------------------------------------------

const loginDialog = document.getElementById("login");
const loginError = document.getElementById("login-error");

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  events.stop();
  document.getElementById("logout").hidden = true;
  loginError.hidden = !message;
  loginError.textContent = message ?? "";
  if (!loginDialog.open) loginDialog.showModal();
  document.getElementById("token").focus();
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const given = document.getElementById("token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, given);
  try {
    await api("/api/mlaas/nodes");
  } catch (error) {
    loginError.textContent = error.status === 401 ? "That token is not the service's." : error.message;
    loginError.hidden = false;
    sessionStorage.removeItem(TOKEN_KEY);
    return;
  }
  document.getElementById("token").value = "";
  loginDialog.close();
  start();
});

loginDialog.addEventListener("cancel", (event) => event.preventDefault());

document.getElementById("logout").addEventListener("click", () => showLogin());

// ---- events: one stream for the whole session --------------------------------------------

const events = {
  listeners: new Set(),
  controller: null,

  on(listener) {
    this.listeners.add(listener);
    page.cleanups.push(() => this.listeners.delete(listener));
  },

  stop() {
    this.controller?.abort();
    this.controller = null;
    setLive(false);
  },

  async follow() {
    if (this.controller) return;
    const controller = (this.controller = new AbortController());
    while (!controller.signal.aborted) {
      try {
        const response = await fetch("/api/event", {
          headers: { Authorization: `Bearer ${token() ?? ""}`, Accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (response.status === 401) {
          showLogin("The token was refused: log in again.");
          return;
        }
        if (!response.ok) throw new Error(`event stream: ${response.status}`);
        setLive(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            this.dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      setLive(false);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  },

  dispatch(block) {
    let name = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (!data) return;
    const parsed = JSON.parse(data);
    for (const listener of [...this.listeners]) listener(name, parsed);
  },
};

function setLive(on) {
  liveBadge.textContent = on ? "live" : "offline";
  liveBadge.classList.toggle("on", on);
}

// call `refresh` at most once per `ms` while events keep coming
function throttled(refresh, ms = 1000) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      try { await refresh(); } catch (error) { showError(error); }
    }, ms);
    page.cleanups.push(() => clearTimeout(timer));
  };
}

// redraw with `draw`, and again every `ms` while `active()` holds: a rollout's own state (paused,
// completed) changes in the service's rollout loop, with no event of its own
function keepFresh(draw, active, ms = 2000) {
  let timer = null;
  let on = true;
  page.cleanups.push(() => { on = false; clearTimeout(timer); });
  async function refresh() {
    await draw();
    clearTimeout(timer);
    if (on && active()) timer = setTimeout(() => refresh().catch(showError), ms);
  }
  return refresh;
}

const ACTIVE_ROLLOUT = ["running", "rolling_back"];
const ACTIVE_DELIVERY = ["pending", "transferring", "downloaded", "updating"];
const DELIVERY_STATES = [...ACTIVE_DELIVERY, "succeeded", "failed", "cancelled"];

// what a rollout or a compile can target: the zoo's tasks and the built models
function targetsOf(models) {
  return [...new Set([...models.map((m) => m.task), ...models.filter((m) => m.built).map((m) => m.name)])];
}

// ---- charts ------------------------------------------------------------------------------

const PALETTE = ["#1f5fbf", "#1d7a46", "#a15c00", "#b3261e", "#6b4fbb", "#0f7c8c", "#7a7a7a"];

// series: [{name, points: [[x, y], ...]}]; x in seconds since the epoch
function lineChart(series, { title, yLabel = "" } = {}) {
  const width = 640, height = 220, left = 48, right = 12, top = 12, bottom = 28;
  const all = series.flatMap((line) => line.points);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": title });
  if (!all.length) {
    svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "No data yet"));
    return h("figure", {}, svg);
  }
  const x0 = Math.min(...all.map((p) => p[0]));
  const x1 = Math.max(...all.map((p) => p[0]), x0 + 1);
  const y1 = Math.max(...all.map((p) => p[1]), 1);
  const x = (v) => left + ((v - x0) / (x1 - x0)) * (width - left - right);
  const y = (v) => height - bottom - (v / y1) * (height - top - bottom);
  for (const tick of [0, 0.5, 1]) {
    const value = Math.round(y1 * tick);
    svg.append(s("line", { x1: left, x2: width - right, y1: y(value), y2: y(value),
      stroke: "#e3e7ec" }));
    svg.append(s("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, value));
  }
  svg.append(s("text", { x: left, y: height - 8 }, new Date(x0 * 1000).toLocaleTimeString()));
  svg.append(s("text", { x: width - right, y: height - 8, "text-anchor": "end" },
    new Date(x1 * 1000).toLocaleTimeString()));
  if (yLabel) svg.append(s("text", { x: 4, y: 10 }, yLabel));
  series.forEach((line, i) => {
    if (!line.points.length) return;
    const d = line.points.map(([px, py], j) => `${j ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join("");
    svg.append(s("path", { d, fill: "none", stroke: PALETTE[i % PALETTE.length], "stroke-width": 2 }));
  });
  return h("figure", {}, svg, h("figcaption", { class: "legend" },
    series.map((line, i) => h("span", {}, h("i", { style: `background:${PALETTE[i % PALETTE.length]}` }), line.name))));
}

// the delivery states over time, rebuilt from each delivery's created and updated times
function deliveryHistory(deliveries, samples = 40) {
  if (!deliveries.length) return { progress: [], states: [] };
  const start = Math.min(...deliveries.map((d) => d.created));
  const end = Math.max(Date.now() / 1000, ...deliveries.map((d) => d.updated));
  const names = ["active", "succeeded", "failed", "cancelled"];
  const states = names.map((name) => ({ name, points: [] }));
  const progress = [{ name: "running a delivered model", points: [] },
    { name: "deliveries started", points: [] }];
  for (let k = 0; k <= samples; k++) {
    const t = start + ((end - start) * k) / samples;
    const counts = { active: 0, succeeded: 0, failed: 0, cancelled: 0 };
    let started = 0;
    for (const d of deliveries) {
      if (d.created > t) continue;
      started += 1;
      const finished = !ACTIVE_DELIVERY.includes(d.state);
      counts[finished && d.updated <= t ? d.state : "active"] += 1;
    }
    names.forEach((name, i) => states[i].points.push([t, counts[name]]));
    progress[0].points.push([t, counts.succeeded]);
    progress[1].points.push([t, started]);
  }
  return { progress, states };
}

// ---- pages -------------------------------------------------------------------------------

const page = { cleanups: [] };

function heading(text) {
  document.title = `${text} · lwm2m-mlaas`;
  return h("h1", {}, text);
}

async function fleetPage() {
  const view = h("div");
  main.replaceChildren(heading("Fleet"), view);
  async function refresh() {
    const [fleet, deliveries] = await Promise.all([api("/api/mlaas/fleet"), api("/api/mlaas/deliveries")]);
    const running = fleet.stages.running ?? 0;
    const active = ACTIVE_DELIVERY.reduce((n, state) => n + (fleet.deliveries[state] ?? 0), 0);
    const history = deliveryHistory(deliveries);
    view.replaceChildren(
      h("div", { class: "cards" },
        card("Devices", fleet.devices, "fleet-devices"),
        card("Running a model", running, "fleet-running"),
        card("Queue mode", fleet.queue_mode, "fleet-queue"),
        card("Active deliveries", active, "fleet-active")),
      h("div", { class: "grid2" },
        h("section", { class: "panel", "aria-labelledby": "by-class" },
          h("h2", { id: "by-class" }, "By class"), bars(fleet.classes, { label: "devices by class" })),
        h("section", { class: "panel", "aria-labelledby": "by-stage" },
          h("h2", { id: "by-stage" }, "By provisioning stage"), bars(fleet.stages, { label: "devices by stage" })),
        h("section", { class: "panel", "aria-labelledby": "by-model" },
          h("h2", { id: "by-model" }, "By running model"), bars(fleet.models, { label: "devices by model" })),
        h("section", { class: "panel", "aria-labelledby": "by-delivery" },
          h("h2", { id: "by-delivery" }, "Deliveries by state"), bars(fleet.deliveries, { label: "deliveries by state" }))),
      h("div", { class: "grid2" },
        h("section", { class: "panel", "aria-labelledby": "progress" },
          h("h2", { id: "progress" }, "Provisioning progress"),
          lineChart(history.progress, { title: "Deliveries started and succeeded over time" })),
        h("section", { class: "panel", "aria-labelledby": "states" },
          h("h2", { id: "states" }, "Delivery states over time"),
          lineChart(history.states, { title: "Deliveries per state over time" }))));
  }
  await refresh();
  const again = throttled(refresh, 1500);
  events.on((name) => {
    if (["REGISTRATION", "DEREGISTRATION", "PROVISIONING"].includes(name)) again();
  });
}

function card(label, value, id) {
  return h("div", { class: "card" }, h("div", { class: "value", id }, (value ?? 0).toLocaleString()),
    h("div", { class: "label" }, label));
}

async function devicesPage() {
  const filters = { search: "", class: "", stage: "", tag: "" };
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() });
  const list = h("div");
  main.replaceChildren(heading("Devices"), form, list);
  let devices = [];

  function select(name, label, options) {
    const el = h("select", { id: `filter-${name}`, onchange: () => { filters[name] = el.value; draw(); } },
      h("option", { value: "" }, "any"), [...options].sort().map((o) => h("option", { value: o, selected: o === filters[name] }, o)));
    return h("label", { for: `filter-${name}` }, label, el);
  }

  const stageOf = (d) => d.provisioning?.stage ?? "unknown";

  function draw() {
    const search = h("input", { id: "filter-search", type: "search", value: filters.search,
      placeholder: "endpoint contains", oninput: () => { filters.search = search.value; drawList(); } });
    form.replaceChildren(
      h("label", { for: "filter-search" }, "Search", search),
      select("class", "Class", new Set(devices.map((d) => d.class).filter(Boolean))),
      select("stage", "Stage", new Set(devices.map(stageOf))),
      select("tag", "Tag", new Set(devices.flatMap((d) => d.tags ?? []))));
    drawList();
  }

  function drawList() {
    const shown = devices.filter((d) => d.endpoint.includes(filters.search)
      && (!filters.class || d.class === filters.class)
      && (!filters.stage || stageOf(d) === filters.stage)
      && (!filters.tag || (d.tags ?? []).includes(filters.tag)));
    list.replaceChildren(h("p", { class: "muted", id: "device-count" }, `${shown.length} of ${devices.length} devices`),
      table([
        ["Endpoint", (d) => h("a", { href: `#/devices/${encodeURIComponent(d.endpoint)}` }, d.endpoint)],
        ["Class", (d) => d.class ?? ""],
        ["Task", (d) => d.task ?? ""],
        ["Model", (d) => d.provisioning?.model ?? ""],
        ["Stage", (d) => stateText(stageOf(d))],
        ["Queue mode", (d) => (d.registration?.queuemode ? (d.awake ? "awake" : "sleeping") : "")],
        ["Tags", (d) => (d.tags ?? []).join(", ")],
      ], shown, "No device matches."));
  }

  async function refresh() {
    devices = await api("/api/mlaas/devices");
    if (form.contains(document.activeElement)) drawList();  // (the operator is typing)
    else draw();
  }
  await refresh();
  const again = throttled(refresh, 1500);
  events.on((name) => {
    if (["REGISTRATION", "DEREGISTRATION", "PROVISIONING", "AWAKE", "SLEEPING"].includes(name)) again();
  });
}

const INFERENCE = "/32101/0";

async function devicePage(endpoint) {
  const ep = encodeURIComponent(endpoint);
  const [device, registration, specs] = await Promise.all([
    api(`/api/mlaas/devices/${ep}`), api(`/api/clients/${ep}`), api(`/api/objectspecs/${ep}`)]);
  const objects = new Map(specs.map((spec) => [spec.id, spec]));
  const score = { name: "last score", points: [] };
  const latency = { name: "latency (ms)", points: [] };
  const chart = h("div");
  const drawChart = () => chart.replaceChildren(
    lineChart([score, latency], { title: `Inference results of ${endpoint}` }));
  const resultValues = h("dl", { id: "inference-values", class: "facts" });

  function takeInference(values, at = Date.now() / 1000) {
    if (values[4] !== undefined) score.points.push([at, Number(values[4])]);
    if (values[5] !== undefined) latency.points.push([at, Number(values[5]) / 1000]);
    for (const line of [score, latency]) line.points.splice(0, Math.max(0, line.points.length - 120));
    const names = objects.get(32101)?.resourcedefs ?? [];
    resultValues.replaceChildren(...Object.entries(values).flatMap(([id, value]) => [
      h("dt", {}, names.find((r) => r.id === Number(id))?.name ?? `resource ${id}`),
      h("dd", {}, String(value))]));
    drawChart();
  }

  main.replaceChildren(heading(endpoint),
    h("div", { class: "grid2" },
      h("section", { class: "panel", "aria-labelledby": "reg" }, h("h2", { id: "reg" }, "Registration"),
        facts([["Registration id", registration.registrationId], ["Address", registration.address],
          ["LwM2M version", registration.lwM2mVersion], ["Lifetime", `${registration.lifetime} s`],
          ["Binding", registration.bindingMode], ["Queue mode", registration.queuemode ? "yes" : "no"],
          ["Secure", registration.secure ? "yes" : "no"],
          ["Last update", new Date(registration.lastUpdate).toLocaleString()]])),
      h("section", { class: "panel", "aria-labelledby": "prov" }, h("h2", { id: "prov" }, "Provisioning"),
        facts([["Class", device.class], ["Task", device.task], ["Stage", device.provisioning?.stage],
          ["Model", device.provisioning?.model], ["Backend", device.provisioning?.backend],
          ["Arena", bytes(device.provisioning?.arena_bytes)], ["Reason", device.provisioning?.reason],
          ["Tags", (device.tags ?? []).join(", ")]]))),
    h("section", { class: "panel", "aria-labelledby": "ml" }, h("h2", { id: "ml" }, "ML inference results (/32101/0)"),
      chart, resultValues),
    h("section", { "aria-labelledby": "objs" }, h("h2", { id: "objs" }, "Objects"),
      objectTree(endpoint, registration, objects)),
    h("section", { "aria-labelledby": "dels" }, h("h2", { id: "dels" }, "Deliveries"),
      deliveryTable(device.deliveries, null)),
    h("section", { "aria-labelledby": "rolls" }, h("h2", { id: "rolls" }, "Rollouts"),
      table([["Rollout", (r) => h("a", { href: `#/rollouts/${r.id}` }, `#${r.id}`)], ["Rollout state", (r) => stateText(r.state)],
        ["Wave", (r) => r.wave], ["Device state", (r) => stateText(r.state)], ["Reason", (r) => r.reason ?? ""]],
      device.rollouts)));
  drawChart();

  const hasInference = registration.objectLinks.some((link) => link.url === INFERENCE);
  if (hasInference) {
    const observed = await api(`/api/clients/${ep}${INFERENCE}/observe`, { method: "POST", body: "" });
    if (observed.content) takeInference(instanceValues(observed.content));
    page.cleanups.push(() => api(`/api/clients/${ep}${INFERENCE}/observe`, { method: "DELETE" }).catch(() => {}));
  }
  events.on((name, data) => {
    if (data.ep !== endpoint) return;
    if (name === "NOTIFICATION" && data.kind === "single" && data.res === INFERENCE) {
      takeInference(instanceValues(data.val));
    } else if (name === "SEND") {
      const values = {};
      for (const [path, node] of Object.entries(data.val)) {
        if (path.startsWith(`${INFERENCE}/`)) values[path.split("/")[3]] = node.value;
      }
      if (Object.keys(values).length) takeInference(values);
    }
  });
}

function instanceValues(node) {
  const values = {};
  for (const resource of node.resources ?? []) values[resource.id] = resource.value ?? JSON.stringify(resource.values);
  return values;
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
}

function objectTree(endpoint, registration, objects) {
  const ep = encodeURIComponent(endpoint);
  const instances = new Map();
  for (const link of registration.objectLinks) {
    const parts = link.url.split("/").filter(Boolean).map(Number);
    if (!parts.length || parts.some(Number.isNaN)) continue;
    if (!instances.has(parts[0])) instances.set(parts[0], []);
    if (parts.length > 1) instances.get(parts[0]).push(parts[1]);
  }
  const tree = h("div", { class: "tree panel" });
  const list = h("ul");
  tree.append(list);
  for (const [objectId, ids] of [...instances].sort((a, b) => a[0] - b[0])) {
    const spec = objects.get(objectId);
    const item = h("li");
    const details = h("details", { "data-path": `/${objectId}` }, h("summary", {}, `/${objectId} ${spec?.name ?? ""}`));
    const inner = h("ul");
    for (const instanceId of ids) inner.append(h("li", {}, instanceNode(ep, objectId, instanceId, spec)));
    details.append(inner);
    item.append(details);
    list.append(item);
  }
  return tree;
}

function instanceNode(ep, objectId, instanceId, spec) {
  const path = `/${objectId}/${instanceId}`;
  const rows = h("div", { class: "resources" });
  const details = h("details", { "data-path": path }, h("summary", {}, path));
  const readAll = h("button", { type: "button", class: "plain", "aria-label": `Read ${path}`,
    onclick: () => act(readAll, async () => showValues(await api(`/api/clients/${ep}${path}`))) }, "Read instance");
  details.append(h("div", { class: "actions" }, readAll), rows);
  const cells = new Map();
  for (const res of spec?.resourcedefs ?? []) {
    const resPath = `${path}/${res.id}`;
    const value = h("span", { class: "value", "data-path": resPath });
    cells.set(res.id, value);
    const ops = h("span", { class: "ops actions" });
    const operations = res.operations === "NONE" ? "" : res.operations ?? "";
    if (operations.includes("R")) {
      const read = h("button", { type: "button", class: "plain", "aria-label": `Read ${resPath}`,
        onclick: () => act(read, async () => showValues(await api(`/api/clients/${ep}${resPath}`))) }, "Read");
      let observing = false;
      const observe = h("button", { type: "button", class: "plain", "aria-pressed": "false",
        "aria-label": `Observe ${resPath}`, onclick: () => act(observe, async () => {
          if (observing) {
            await api(`/api/clients/${ep}${resPath}/observe?active`, { method: "DELETE" });
          } else {
            showValues(await api(`/api/clients/${ep}${resPath}/observe`, { method: "POST", body: "" }));
          }
          observing = !observing;
          observe.textContent = observing ? "Stop" : "Observe";
          observe.setAttribute("aria-pressed", String(observing));
        }) }, "Observe");
      ops.append(read, observe);
    }
    if (operations.includes("W") && !res.instancetype?.startsWith("multiple")) {
      const input = h("input", { id: `write-${resPath}`, "aria-label": `New value of ${resPath}`, size: 10 });
      const write = h("button", { type: "button", "aria-label": `Write ${resPath}`, onclick: () => act(write, async () => {
        const answer = await api(`/api/clients/${ep}${resPath}`, { method: "PUT",
          body: { id: res.id, kind: "singleResource", type: (res.type || "string").toLowerCase(), value: input.value } });
        answered(answer);
        showValues(await api(`/api/clients/${ep}${resPath}`));
      }) }, "Write");
      ops.append(input, write);
    }
    if (operations.includes("E")) {
      const execute = h("button", { type: "button", "aria-label": `Execute ${resPath}`,
        onclick: () => act(execute, async () => answered(await api(`/api/clients/${ep}${resPath}`, { method: "POST" }))) }, "Execute");
      ops.append(execute);
    }
    rows.append(h("div", { class: "res" }, h("span", {}, `${res.id} ${res.name}`), value, ops));
  }

  function showValues(answer) {
    answered(answer);
    const node = answer.content;
    if (!node) return;
    const resources = node.kind === "instance" ? node.resources : [node];
    for (const resource of resources) {
      const cell = cells.get(resource.id);
      if (!cell) continue;
      cell.textContent = resource.value !== undefined ? String(resource.value)
        : Object.entries(resource.values ?? {}).map(([k, v]) => `${k}: ${v}`).join(", ");
    }
  }
  details.addEventListener("toggle", () => {
    if (details.open && ![...cells.values()].some((c) => c.textContent)) readAll.click();
  }, { once: true });
  events.on((name, data) => {
    if (name === "NOTIFICATION" && data.kind === "single" && data.res?.startsWith(path) && data.ep === decodeURIComponent(ep)) {
      showValues({ status: "CONTENT(205)", success: true, content: data.val });
    }
  });
  return details;
}

function answered(answer) {
  if (answer && answer.success === false) throw new Error(`the device answered ${answer.status}${answer.errormessage ? `: ${answer.errormessage}` : ""}`);
}

function deliveryTable(deliveries, refresh) {
  return table([
    ["Id", (d) => d.id, "num"], ["Endpoint", (d) => h("a", { href: `#/devices/${encodeURIComponent(d.endpoint)}` }, d.endpoint)],
    ["Model", (d) => d.model], ["Class", (d) => d.device_class], ["Mode", (d) => d.mode],
    ["State", (d) => stateText(d.state)], ["Attempts", (d) => d.attempts, "num"],
    ["Updated", (d) => when(d.updated)], ["Reason", (d) => d.reason ?? ""],
    ["", (d) => {
      if (!refresh || !ACTIVE_DELIVERY.includes(d.state)) return "";
      const cancel = h("button", { type: "button", class: "danger", "aria-label": `Cancel delivery ${d.id}`,
        onclick: () => act(cancel, async () => { await api(`/api/mlaas/deliveries/${d.id}/cancel`, { method: "POST" }); await refresh(); }) }, "Cancel");
      return cancel;
    }],
  ], deliveries, "No deliveries.");
}

async function modelsPage() {
  const [classes, models, artifacts] = await Promise.all([
    api("/api/mlaas/classes"), api("/api/mlaas/models"), api("/api/mlaas/artifacts")]);
  const targets = targetsOf(models);
  const arena = (c) => ["Arena / ML RAM", (a) => a.fits === false ? ""
    : h("div", {}, meter(a.arena_bytes, c.ml_ram_bytes, `arena ${bytes(a.arena_bytes)} of ${bytes(c.ml_ram_bytes)}`, a.arena_bytes > c.ml_ram_bytes), bytes(a.arena_bytes))];
  const flash = (c) => ["Package / ML flash", (a) => a.fits === false ? ""
    : h("div", {}, meter(a.package_bytes, c.ml_flash_bytes, `package ${bytes(a.package_bytes)} of ${bytes(c.ml_flash_bytes)}`, a.package_bytes > c.ml_flash_bytes), bytes(a.package_bytes))];
  const sections = classes.map((c) => {
    const rows = artifacts.filter((a) => a.class === c.name)
      .sort((a, b) => a.model.localeCompare(b.model) || a.backend.localeCompare(b.backend));
    const id = `compile-${c.name}`;
    const target = h("select", { id }, targets.map((t) => h("option", { value: t }, t)));
    const button = h("button", { type: "submit" }, "Compile");
    const result = h("div", { "data-compiled": c.name });
    const form = h("form", { class: "filters", "aria-label": `Compile for ${c.name}` },
      h("label", { for: id }, "Task or model", target), button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(button, async () => {
        result.replaceChildren(h("p", { class: "muted", role: "status" }, `Compiling ${target.value} for ${c.name}…`));
        const outcome = await api("/api/mlaas/compile", { method: "POST", body: { target: target.value, class: c.name } });
        const backends = outcome.backends ?? [{ ...outcome, payload_bytes: outcome.model_bytes }];
        result.replaceChildren(h("p", {}, `${target.value} for ${c.name}, side by side:`),
          table([["Backend", (b) => b.backend], ["Model", (b) => b.model ?? ""],
            ["Fits", (b) => (b.fits ? "yes" : `no: ${b.reason}`)], arena(c), flash(c)], backends));
      });
    });
    return h("section", { class: "panel", "aria-labelledby": `class-${c.name}` },
      h("h2", { id: `class-${c.name}` }, c.name),
      h("p", { class: "muted" }, `${c.board}, ${c.core} at ${c.clock_mhz} MHz; ML budget ${bytes(c.ml_ram_bytes)} RAM, ${bytes(c.ml_flash_bytes)} flash; runtimes ${c.runtimes.join(", ")}`),
      table([["Model", (a) => a.model], ["Backend", (a) => a.backend], arena(c), flash(c)],
        rows, "Nothing compiled for this class yet."),
      form, result);
  });
  main.replaceChildren(heading("Models and classes"),
    h("h2", {}, "Models"),
    table([["Name", (m) => m.name], ["Task", (m) => m.task], ["Variant", (m) => m.variant ?? ""],
      ["Built", (m) => (m.built ? "yes" : "no")], ["Float quality", (m) => (m.float_quality ?? "") === "" ? "" : Number(m.float_quality).toFixed(3), "num"]], models),
    h("h2", {}, "What fits each class"),
    h("div", { class: "grid2" }, sections));
}

async function deliveriesPage() {
  const stateSelect = h("select", { id: "delivery-state", onchange: () => refresh() },
    ["", ...DELIVERY_STATES]
      .map((st) => h("option", { value: st }, st || "any")));
  const list = h("div");
  main.replaceChildren(heading("Deliveries"),
    h("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, h("label", { for: "delivery-state" }, "State", stateSelect)),
    list);
  async function refresh() {
    const query = stateSelect.value ? `?state=${encodeURIComponent(stateSelect.value)}` : "";
    const deliveries = await api(`/api/mlaas/deliveries${query}`);
    list.replaceChildren(deliveryTable(deliveries.sort((a, b) => b.id - a.id), refresh));
  }
  await refresh();
  const again = throttled(refresh, 1500);
  events.on((name) => { if (name === "PROVISIONING") again(); });
}

function waveBars(rollout) {
  return h("div", { class: "waves" }, rollout.waves.map((wave) => {
    const done = (wave.counts.succeeded ?? 0) + (wave.counts.failed ?? 0) + (wave.counts.skipped ?? 0);
    const failed = wave.counts.failed ?? 0;
    return h("div", { class: "wave bar-row" },
      h("span", { class: "name" }, wave.wave === 0 ? "canary" : `wave ${wave.wave}`),
      meter(done, wave.planned, `wave ${wave.wave}: ${done} of ${wave.planned} done, ${failed} failed`, failed > 0),
      h("span", { class: "num" }, `${done}/${wave.planned}`));
  }));
}

function rolloutActions(rollout, refresh) {
  const actions = { running: ["pause", "abort", "rollback"], paused: ["resume", "abort", "rollback"],
    completed: ["rollback"], aborted: ["rollback"] }[rollout.state] ?? [];
  return h("div", { class: "actions" }, actions.map((action) => {
    const button = h("button", { type: "button", class: action === "resume" || action === "pause" ? "plain" : "danger",
      "aria-label": `${action} rollout ${rollout.id}`,
      onclick: () => act(button, async () => { await api(`/api/mlaas/rollouts/${rollout.id}/${action}`, { method: "POST" }); await refresh(); }) }, action);
    return button;
  }));
}

async function rolloutsPage() {
  const [models, classes] = await Promise.all([api("/api/mlaas/models"), api("/api/mlaas/classes")]);
  const targets = targetsOf(models);
  const field = (id, label, input) => h("label", { for: id }, label, input);
  const target = h("select", { id: "ro-target", name: "target", required: true }, targets.map((t) => h("option", { value: t }, t)));
  const name = h("input", { id: "ro-name", name: "name", placeholder: "the target" });
  const cls = h("select", { id: "ro-class", name: "class" }, h("option", { value: "" }, "any"), classes.map((c) => h("option", { value: c.name }, c.name)));
  const tag = h("input", { id: "ro-tag", name: "tag" });
  const endpointGlob = h("input", { id: "ro-endpoint", name: "endpoint", placeholder: "glob, e.g. dev-*" });
  const canary = h("input", { id: "ro-canary", name: "canary", type: "number", min: 0, value: 1 });
  const waves = h("input", { id: "ro-waves", name: "waves", value: "100", pattern: "[0-9., ]+" });
  const concurrent = h("input", { id: "ro-concurrent", name: "max_concurrent", type: "number", min: 1, value: 10 });
  const threshold = h("input", { id: "ro-threshold", name: "failure_threshold", type: "number", min: 0, max: 0.99, step: 0.01, value: 0.1 });
  const submit = h("button", { type: "submit" }, "Start rollout");
  const form = h("form", { class: "stack panel", id: "rollout-form", "aria-labelledby": "new-rollout" },
    field("ro-target", "Target (task or model)", target), field("ro-name", "Name", name),
    field("ro-class", "Class", cls), field("ro-tag", "Tag", tag), field("ro-endpoint", "Endpoint", endpointGlob),
    field("ro-canary", "Canary devices", canary), field("ro-waves", "Waves (cumulative %)", waves),
    field("ro-concurrent", "At most at once", concurrent), field("ro-threshold", "Failure threshold", threshold),
    submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(submit, async () => {
      const selector = {};
      if (cls.value) selector.class = cls.value;
      if (tag.value.trim()) selector.tag = tag.value.trim();
      if (endpointGlob.value.trim()) selector.endpoint = endpointGlob.value.trim();
      const body = { target: target.value, selector, canary: Number(canary.value),
        waves: waves.value.split(",").map((w) => w.trim()).filter(Boolean).map(Number),
        max_concurrent: Number(concurrent.value), failure_threshold: Number(threshold.value) };
      if (name.value.trim()) body.name = name.value.trim();
      const created = await api("/api/mlaas/rollouts", { method: "POST", body });
      location.hash = `#/rollouts/${created.id}`;
    });
  });
  const list = h("div");
  main.replaceChildren(heading("Rollouts"), h("h2", { id: "new-rollout" }, "New rollout"), form,
    h("h2", {}, "Rollouts"), list);
  let rollouts = [];
  const refresh = keepFresh(async () => {
    rollouts = (await api("/api/mlaas/rollouts")).sort((a, b) => b.id - a.id);
    list.replaceChildren(table([
      ["Id", (r) => h("a", { href: `#/rollouts/${r.id}` }, `#${r.id}`), "num"], ["Name", (r) => r.name], ["Target", (r) => r.target],
      ["State", (r) => h("span", { "data-rollout-state": r.id }, stateText(r.state))], ["Reason", (r) => r.reason ?? ""],
      ["Progress", (r) => waveBars(r)], ["", (r) => rolloutActions(r, refresh)],
    ], rollouts, "No rollouts yet."));
  }, () => rollouts.some((r) => ACTIVE_ROLLOUT.includes(r.state)));
  await refresh();
  const again = throttled(refresh, 1000);
  events.on((name) => { if (name === "PROVISIONING") again(); });
}

async function rolloutPage(id) {
  const view = h("div");
  main.replaceChildren(heading(`Rollout #${id}`), view);
  let rollout = null;
  const refresh = keepFresh(async () => {
    rollout = await api(`/api/mlaas/rollouts/${id}`);
    view.replaceChildren(
      h("div", { class: "panel" },
        facts([["Name", rollout.name], ["Target", rollout.target], ["Selector", JSON.stringify(rollout.selector)],
          ["Devices", rollout.devices], ["At most at once", rollout.max_concurrent],
          ["Failure threshold", rollout.failure_threshold], ["Created", when(rollout.created)]]),
        h("p", {}, "State: ", h("strong", { id: "rollout-state" }, stateText(rollout.state)),
          rollout.reason ? h("span", { id: "rollout-reason" }, ` (${rollout.reason})`) : null),
        waveBars(rollout), rolloutActions(rollout, refresh)),
      h("h2", {}, "Devices"),
      table([["Endpoint", (m) => h("a", { href: `#/devices/${encodeURIComponent(m.endpoint)}` }, m.endpoint)],
        ["Wave", (m) => m.wave, "num"], ["Class", (m) => m.class ?? ""], ["State", (m) => stateText(m.state)],
        ["Delivery", (m) => m.delivery ?? "", "num"], ["Reason", (m) => m.reason ?? ""]], rollout.members));
  }, () => ACTIVE_ROLLOUT.includes(rollout?.state));
  await refresh();
  const again = throttled(refresh, 1000);
  events.on((name) => { if (name === "PROVISIONING") again(); });
}

// ---- routing -----------------------------------------------------------------------------

const ROUTES = [
  [/^#\/?$/, fleetPage, "#/"],
  [/^#\/devices$/, devicesPage, "#/devices"],
  [/^#\/devices\/(.+)$/, devicePage, "#/devices"],
  [/^#\/models$/, modelsPage, "#/models"],
  [/^#\/deliveries$/, deliveriesPage, "#/deliveries"],
  [/^#\/rollouts$/, rolloutsPage, "#/rollouts"],
  [/^#\/rollouts\/(\d+)$/, rolloutPage, "#/rollouts"],
];

let routing = 0;

async function route() {
  const turn = ++routing;
  for (const cleanup of page.cleanups.splice(0)) cleanup();
  clearError();
  const hash = location.hash || "#/";
  const found = ROUTES.find(([pattern]) => pattern.test(hash));
  for (const link of document.querySelectorAll("header nav a")) {
    if (found && link.getAttribute("href") === found[2]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!found) {
    main.replaceChildren(heading("Not found"), h("p", {}, `No page ${hash}.`));
    return;
  }
  const [pattern, render] = found;
  const args = pattern.exec(hash).slice(1).map(decodeURIComponent);
  main.replaceChildren(h("p", { class: "muted", role: "status" }, "Loading…"));
  try {
    await render(...args);
  } catch (error) {
    if (turn !== routing) return;
    main.replaceChildren(heading("Could not load this page"), h("p", {}, error.message));
    showError(error);
  }
  if (turn === routing && document.activeElement === document.body) main.focus();
}

function start() {
  document.getElementById("logout").hidden = false;
  events.follow();
  route();
}

window.addEventListener("hashchange", () => { if (token()) route(); });

if (token()) start();
else showLogin();
