/* charlstm user pages: the sample page follows its sample while it is queued or running, shows
 * its first text growing as it is written, and reloads once its status changes (the preview and
 * the download link then show). The job
 * pages use admin.js, with the same JSON keys. No libraries, no inline scripts. */
(function () {
  "use strict";

  function samplePage() {
    var box = document.getElementById("sample");
    if (!box || box.dataset.live !== "true") return;
    var ms = Number(box.dataset.pollMs) || 2000;
    var progress = document.getElementById("sample-progress");
    var errorBox = document.getElementById("poll-error");
    function tick() {
      if (document.hidden) { window.setTimeout(tick, ms); return; }
      fetch(box.dataset.pollUrl, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) {
            window.location.assign(document.body.dataset.loginUrl + "?next=" + encodeURIComponent(window.location.pathname));
            throw new Error("signed out");
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (errorBox) errorBox.hidden = true;
          if (data.status !== box.dataset.status) { window.location.reload(); return; }
          if (progress) progress.textContent = data.progress_label;
          window.setTimeout(tick, ms);
        })
        .catch(function (err) {
          if (errorBox) { errorBox.hidden = false; errorBox.querySelector("span").textContent = err.message || String(err); }
          window.setTimeout(tick, ms);
        });
    }
    window.setTimeout(tick, ms);
  }

  /* The running sample's first text, as it is written: an EventSource on the page's stream
   * route (it reconnects by itself, resuming from the last event id); at the end the page
   * reloads and shows the stored text. */
  function liveText() {
    var pre = document.getElementById("live-text");
    if (!pre || !window.EventSource) return;
    var source = new EventSource(pre.dataset.streamUrl);
    source.addEventListener("text", function (event) {
      pre.appendChild(document.createTextNode(JSON.parse(event.data).text));
    });
    source.addEventListener("end", function () {
      source.close();
      window.location.reload();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.dataset.page === "sample") { samplePage(); liveText(); }
  });
})();
