/* One job, live: every line of events.jsonl arrives over SSE (replayed from the start, then as written);
   progress and the loss curve follow the step events, the rest of the page is re-read from /api/jobs/ID. */
"use strict";
(() => {
  const { el, num, clock, request } = kw;
  const data = kw.pageData();
  const id = data.job.id;
  const api = `/api/jobs/${encodeURIComponent(id)}`;
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"];
  const DETAILS_MS = 5000;
  const STEP_INCREMENTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
  /* learning rates are 1e-4-sized: a tick label needs its exponent, a loss needs 3 digits */
  const tick = (v, incr, small) => (small ? (v === 0 ? "0" : v.toExponential(1))
    : v.toFixed(Math.min(6, Math.max(0, Math.ceil(-Math.log10(incr) - 1e-9)))));
  const ticks = (u, splits, axis, space, incr) => {
    const small = Math.max(...splits.map(Math.abs)) < 0.01;
    return splits.map((v) => tick(v, incr, small));
  };
  const $ = (name) => document.getElementById(name);
  let status = data.job.status;
  let lastDetails = 0;
  let pending = null;

  function makeChart(node, labels) {
    const series = [{ label: "step" }, ...labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))];
    const axes = [{ incrs: STEP_INCREMENTS }, { values: ticks, size: 60 }];
    const options = { width: Math.max(300, node.clientWidth || 600), height: 220, scales: { x: { time: false } }, series, axes };
    return new uPlot(options, [[], ...labels.map(() => [])], node);
  }

  const loss = { x: [], loss: [], avr: [] };
  const lossChart = makeChart($("loss-chart"), ["loss", "avr_loss"]);
  let lrChart = null;

  function addLoss(event) {
    const last = loss.x.length ? loss.x[loss.x.length - 1] : -Infinity;
    if (event.step < last) return;
    if (event.step === last) { loss.x.pop(); loss.loss.pop(); loss.avr.pop(); }
    loss.x.push(event.step);
    loss.loss.push(event.loss ?? null);
    loss.avr.push(event.avr_loss ?? null);
    lossChart.setData([loss.x, loss.loss, loss.avr]);
    $("loss-chart").dataset.points = String(loss.x.length);
  }

  function drawLr(curves) {
    const tags = Object.keys(curves || {});
    const node = $("lr-chart");
    if (!tags.length) { $("lr-note").textContent = "sd-scripts writes the learning rate to TensorBoard; it shows here once logged."; return; }
    const xs = [...new Set(tags.flatMap((tag) => curves[tag].map((p) => p[0])))].sort((a, b) => a - b);
    const columns = tags.map((tag) => { const m = new Map(curves[tag].map((p) => [p[0], p[1]])); return xs.map((x) => m.get(x) ?? null); });
    if (!lrChart || lrChart.series.length !== tags.length + 1) { node.replaceChildren(); lrChart = makeChart(node, tags); }
    lrChart.setData([xs, ...columns]);
    node.dataset.points = String(xs.length);
    $("lr-note").textContent = "";
  }

  function setStatus(value) {
    status = value;
    $("status").textContent = value;
    $("status").className = `status s-${value}`;
  }

  function onStep(event) {
    $("step").textContent = event.step;
    if (event.total) $("total").textContent = event.total;
    if (event.total) $("progress-fill").style.width = `${Math.min(100, (100 * event.step) / event.total)}%`;
    if (event.loss !== undefined) $("loss").textContent = num(event.loss, 4);
    if (event.avr_loss !== undefined) $("avr-loss").textContent = num(event.avr_loss, 4);
    const rate = event.s_per_it || (event.it_s ? 1 / event.it_s : null);
    if (rate) $("speed").textContent = rate >= 1 ? `${rate.toFixed(2)} s/it` : `${(1 / rate).toFixed(2)} it/s`;
    if (event.eta_s !== undefined) $("eta").textContent = clock(event.eta_s);
    if (event.elapsed_s !== undefined) $("elapsed").textContent = clock(event.elapsed_s);
    addLoss(event);
  }

  function onEvent(event) {
    if (event.type === "started") setStatus("running");
    else if (event.type === "step") onStep(event);
    else if (event.type === "epoch") { $("epoch").textContent = event.epoch; if (event.total) $("epochs").textContent = event.total; }
    else if (event.type === "config" && event.steps) $("total").textContent = event.steps;
    if (["saved", "sample", "exited", "limit", "error"].includes(event.type)) soon(300);
    else if (Date.now() - lastDetails > DETAILS_MS) soon(0);
  }

  function soon(ms) { if (!pending) pending = setTimeout(() => { pending = null; details(); }, ms); }

  function table(id, rows) { $(id).querySelector("tbody").replaceChildren(...rows); }

  async function details() {
    lastDetails = Date.now();
    const answer = await request(api);
    if (!answer.ok) return;
    const d = answer.data;
    setStatus(d.job.status);
    document.querySelectorAll("button.action").forEach((b) => { b.hidden = !d.actions.includes(b.dataset.action); });
    $("cost").textContent = d.cost.usd === null ? "–" : `$${d.cost.usd.toFixed(4)}` + (d.cost.max_cost_usd ? ` of $${d.cost.max_cost_usd} limit` : "");
    if (d.progress.elapsed_s !== null) $("elapsed").textContent = clock(d.progress.elapsed_s);
    if (d.job.status !== "running") $("eta").textContent = clock(d.progress.eta_s);
    $("log-tail").textContent = d.log_tail.join("\n");
    $("sample-count").textContent = d.samples.length;
    if (d.samples.length) $("samples").replaceChildren(...d.samples.map((s) => el("figure", {}, el("img", { src: s.url, alt: s.path, loading: "lazy" }), el("figcaption", { text: s.path }))));
    table("saved", d.saved.map((s) => el("tr", {}, el("td", { text: (s.what || "") + (s.final ? " (final)" : "") }), el("td", { text: s.step ?? "" }), el("td", { text: s.epoch ?? "" }), el("td", {}, el("code", { text: s.path })))));
    if (d.models.length) table("versions", d.models.map((m) => el("tr", {}, el("td", {}, el("a", { href: m.url, text: m.ref })), el("td", { text: m.step ?? "" }), el("td", { text: `${((m.bytes || 0) / 1e6).toFixed(1)} MB` }), el("td", {}, el("code", { class: "sha", text: m.sha256 || "" })), el("td", {}, el("a", { class: "download", href: m.download, text: "download" })))));
    drawLr(d.curves.lr);
    if (status === "running" || status === "queued") soon(DETAILS_MS);
  }

  function listen() {
    const source = new EventSource(`${api}/events`);
    source.onmessage = (message) => onEvent(JSON.parse(message.data));
    source.addEventListener("reset", () => { loss.x = []; loss.loss = []; loss.avr = []; lossChart.setData([[], [], []]); });
    source.addEventListener("end", () => { source.close(); details(); });
  }

  document.querySelectorAll("button.action").forEach((button) => {
    button.addEventListener("click", async () => {
      const label = button.textContent;
      button.disabled = true;
      button.textContent = `${label}…`;
      const answer = await request(`${api}/${button.dataset.action}`, { method: "POST", json: {} });
      button.disabled = false;
      button.textContent = label;
      $("action-error").hidden = answer.ok;
      if (!answer.ok) kw.showError($("action-error"), answer.data);
      if (answer.ok && button.dataset.action === "retry") { window.location.reload(); return; }
      details();
    });
  });

  drawLr(data.curves.lr);
  listen();
})();
