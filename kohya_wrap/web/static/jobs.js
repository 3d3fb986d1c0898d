/* Jobs page: refreshes its rows from /api/jobs (the same query) while jobs are queued or running. */
"use strict";
(() => {
  const REFRESH_MS = 4000;
  const body = document.getElementById("jobs-body");
  const active = (jobs) => jobs.some((job) => job.status === "running" || job.status === "queued");

  function row(job) {
    const { el, num, clock, when } = kw;
    const first = el("td", {}, el("a", { href: job.url, text: job.id }));
    if (job.cause) first.append(el("div", { class: "cause", text: job.cause }));
    const step = `${job.step ?? "–"}/${job.total_steps ?? "–"}`;
    return el("tr", { "data-id": job.id }, first,
      el("td", {}, el("span", { class: `status s-${job.status}`, text: job.status })),
      el("td", { class: "num", text: step }), el("td", { class: "num", text: num(job.last_loss, 4) }),
      el("td", { class: "num", text: num(job.mean_s_per_it, 2) }), el("td", { class: "num", text: clock(job.eta_s) }),
      el("td", { class: "num", text: job.cost_usd === null ? "–" : `$${Number(job.cost_usd).toFixed(2)}` }),
      el("td", { text: job.gpu_name || job.gpu || "–" }), el("td", { text: when(job.created_at) }));
  }

  async function refresh() {
    const answer = await kw.request(`/api/jobs${window.location.search}`);
    if (answer.ok && answer.data.jobs.length) body.replaceChildren(...answer.data.jobs.map(row));
    if (answer.ok && active(answer.data.jobs)) setTimeout(refresh, REFRESH_MS);
  }

  if (active(kw.pageData().jobs)) setTimeout(refresh, REFRESH_MS);
})();
