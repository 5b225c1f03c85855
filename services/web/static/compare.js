/* charlstm comparison page: while a job of the comparison is queued or running, poll
 * /compare/live; when its version changes (an epoch, a live loss point, a status), swap in a
 * fresh chart (SVG) and table. No libraries, no inline scripts. */
(function () {
  "use strict";

  function fetchText(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (response.status === 401) {
        window.location.assign(document.body.dataset.loginUrl + "?next=" + encodeURIComponent(window.location.pathname + window.location.search));
        throw new Error("signed out");
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    });
  }

  function swap(target, markup, type) {
    var doc = new DOMParser().parseFromString(markup, type);
    var root = type === "image/svg+xml" ? doc.documentElement : doc.body.firstElementChild;
    if (!root) throw new Error("empty answer");
    target.replaceChildren(document.importNode(root, true));
  }

  function comparePage() {
    var box = document.getElementById("compare");
    if (!box || box.dataset.live !== "true") return;
    var ms = Number(box.dataset.pollMs) || 2000;
    var errorBox = document.getElementById("poll-error");
    function tick() {
      if (document.hidden) { window.setTimeout(tick, ms); return; }
      fetchText(box.dataset.liveUrl)
        .then(function (text) {
          var data = JSON.parse(text);
          if (errorBox) errorBox.hidden = true;
          if (data.version === box.dataset.version) return data.live;
          return Promise.all([fetchText(box.dataset.chartUrl), fetchText(box.dataset.tableUrl)]).then(function (parts) {
            swap(document.getElementById("compare-chart"), parts[0], "image/svg+xml");
            swap(document.getElementById("compare-table"), parts[1], "text/html");
            box.dataset.version = data.version;
            return data.live;
          });
        })
        .then(function (live) { if (live) window.setTimeout(tick, ms); })
        .catch(function (err) {
          if (errorBox) { errorBox.hidden = false; errorBox.querySelector("span").textContent = err.message || String(err); }
          window.setTimeout(tick, ms);
        });
    }
    window.setTimeout(tick, ms);
  }

  document.addEventListener("DOMContentLoaded", comparePage);
})();
