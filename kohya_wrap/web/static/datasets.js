/* Upload a dataset (a zip, or image + caption files) with a progress bar; show the check or every problem. */
"use strict";
(() => {
  const { el, showError, csrf } = kw;
  const $ = (name) => document.getElementById(name);
  const result = $("upload-result");
  const bar = $("upload-progress");

  function done(status, data) {
    bar.hidden = true;
    $("upload-button").disabled = false;
    if (status !== 201) { showError(result, data); return; }
    const c = data.check.counts;
    result.replaceChildren(el("p", { class: "ok", id: "upload-ok" }, "Uploaded ",
      el("a", { href: `/datasets/${encodeURIComponent(data.name)}`, text: data.name }),
      `: ${data.files} files, ${data.layout}; check: ${c.error} errors, ${c.warning} warnings.`));
    if (data.skipped.length) result.append(el("p", { class: "muted", text: `skipped: ${data.skipped.join(", ")}` }));
  }

  $("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData($("upload-form"));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/datasets");
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
    xhr.onload = () => {
      let data;
      try { data = JSON.parse(xhr.responseText); } catch (error) { data = { error: `${xhr.status}: ${xhr.responseText.slice(0, 200)}` }; }
      done(xhr.status, data);
    };
    xhr.onerror = () => done(0, { error: "the upload did not reach the server" });
    bar.hidden = false;
    bar.value = 0;
    $("upload-button").disabled = true;
    result.replaceChildren(el("p", { class: "muted", text: "uploading and checking…" }));
    xhr.send(form);
  });
})();
