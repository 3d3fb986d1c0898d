/* Caption edits of a prepared dataset (each save writes the caption file atomically on the server) and
   auto-captioning runs started from the page. */
"use strict";
(() => {
  const name = document.getElementById("dataset").dataset.name;
  document.querySelectorAll("button.save-caption").forEach((button) => {
    button.addEventListener("click", async () => {
      const figure = button.closest("figure");
      const note = figure.querySelector(".saved");
      const answer = await kw.request(`/api/datasets/${encodeURIComponent(name)}/captions`, {
        method: "POST", json: { image: figure.dataset.image, caption: figure.querySelector("textarea").value } });
      note.textContent = answer.ok ? (answer.data.changed ? " saved" : " unchanged") : ` ${answer.data.error}`;
      note.className = answer.ok ? "saved ok" : "saved error";
    });
  });
  const form = document.getElementById("auto-captions");
  if (form) {
    const status = document.getElementById("auto-status");
    const url = `/api/datasets/${encodeURIComponent(name)}/captions/auto`;
    const show = (data) => {
      const p = data.progress;
      status.textContent = data.state + (p ? ` ${p.done}/${p.total} (${p.images_per_s} images/s)` : "")
        + (data.error ? `: ${data.error}` : "");
    };
    const poll = async () => {
      const answer = await kw.request(url);
      if (answer.ok) show(answer.data);
      if (answer.ok && answer.data.state === "running") setTimeout(poll, 1000);
      else if (answer.ok && answer.data.state === "finished") setTimeout(() => location.reload(), 800);
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(form));
      values.dry_run = form.elements.dry_run.checked;
      const answer = await kw.request(url, { method: "POST", json: values });
      if (!answer.ok) { status.textContent = answer.data.error; return; }
      show(answer.data);
      poll();
    });
  }
})();
