/* Caption edits of a prepared dataset: each save writes the caption file atomically on the server. */
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
})();
