/* New job: the preset's text, then validate / preview / queue through the same API scripts use. */
"use strict";
(() => {
  const { el, request, showError, clock } = kw;
  const $ = (name) => document.getElementById(name);
  const form = $("new-job");
  const result = $("result");
  const lines = (text) => text.split("\n").map((line) => line.trim()).filter(Boolean);

  function body() {
    return {
      preset: $("preset").value, overrides: lines($("overrides").value), sweeps: lines($("sweeps").value),
      dataset: $("dataset-name").value || $("dataset-path").value.trim(), model: $("model").value.trim(),
      reg: $("reg").value.trim(), name: $("name").value.trim(), priority: $("priority").value || 0,
      force: $("force").checked,
    };
  }

  async function showPreset() {
    const answer = await request(`/api/presets/${encodeURIComponent($("preset").value)}`);
    if (!answer.ok) { showError(result, answer.data); return; }
    $("preset-name").textContent = answer.data.name;
    $("preset-text").textContent = answer.data.text;
  }

  async function send(path, busyText) {
    result.replaceChildren(el("p", { class: "muted", text: busyText }));
    const answer = await request(path, { method: "POST", json: body() });
    if (!answer.ok) showError(result, answer.data);
    return answer;
  }

  $("preset").addEventListener("change", showPreset);
  $("validate-button").addEventListener("click", async () => {
    const answer = await send("/api/jobs/validate", "checking…");
    if (answer.ok) result.replaceChildren(el("p", { class: "ok", id: "valid", text: `Valid: ${answer.data.jobs} job${answer.data.jobs === 1 ? "" : "s"} would be queued.` }));
  });
  $("preview-button").addEventListener("click", async () => {
    const answer = await send("/api/jobs/preview", "rendering and checking the dataset…");
    if (!answer.ok) return;
    const d = answer.data;
    const est = d.estimate;
    const time = est.seconds === null ? "time unknown" : `about ${clock(est.seconds)}`;
    const cost = est.cost_usd === null ? "cost unknown" : `about $${est.cost_usd.toFixed(2)}`;
    result.replaceChildren(el("p", { id: "preview-summary", text: d.summary }),
      el("p", { text: `${d.jobs} job${d.jobs === 1 ? "" : "s"}; ${time}, ${cost} (${est.basis})` }),
      ...est.over_limit.map((text) => el("p", { class: "error", text })),
      ...d.notes.map((text) => el("p", { class: "muted", text })),
      ...d.findings.filter((f) => f.severity !== "info").map((f) => el("p", { class: "hint", text: `${f.severity} ${f.code}: ${f.message}` })));
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await send("/api/jobs", "queuing…");
    if (!answer.ok) return;
    result.replaceChildren(el("p", { class: "ok", text: "Queued:" }),
      el("ul", { id: "queued-jobs" }, ...answer.data.jobs.map((job) => el("li", {}, el("a", { href: job.url, text: job.id })))));
  });
  if (!$("preset-text").textContent) showPreset();
})();
