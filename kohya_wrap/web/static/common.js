/* Shared helpers of the dashboard pages: requests with the CSRF token, DOM building, formatting. */
"use strict";
const kw = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const pageData = () => JSON.parse(document.getElementById("page-data").textContent);

  async function request(url, { method = "GET", json, form } = {}) {
    const headers = { "X-CSRF-Token": csrf(), Accept: "application/json" };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    const response = await fetch(url, { method, headers, body, credentials: "same-origin" });
    let data;
    try {
      data = await response.json();
    } catch (error) {
      data = { error: `${response.status} ${response.statusText}` };
    }
    return { ok: response.ok, status: response.status, data };
  }

  /* Elements are built with textContent only: user text never becomes markup. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function showError(target, data) {
    target.replaceChildren(el("p", { class: "error", text: data.error || "failed" }));
    if (data.hint) target.append(el("p", { class: "hint", text: data.hint }));
    const items = (data.issues || []).map((issue) => issue.line).concat(data.problems || []);
    if (items.length) target.append(el("ul", { class: "issues" }, ...items.map((text) => el("li", { text }))));
  }

  function clock(seconds) {
    if (seconds === null || seconds === undefined || seconds === "" || Number.isNaN(Number(seconds))) return "–";
    let s = Math.max(0, Math.round(Number(seconds)));
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
  }

  function when(t) {
    if (!t) return "–";
    const d = new Date(Number(t) * 1000);
    return d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }

  const num = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

  function fillTimes(root = document) {
    root.querySelectorAll("[data-seconds]").forEach((node) => { node.textContent = clock(node.dataset.seconds); });
    root.querySelectorAll("[data-time]").forEach((node) => { node.textContent = when(node.dataset.time); });
  }

  document.addEventListener("DOMContentLoaded", () => fillTimes());
  return { csrf, pageData, request, el, showError, clock, when, num, fillTimes };
})();
