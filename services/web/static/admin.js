/* charlstm admin: live updates without a page reload, no libraries.
 *
 * The jobs page polls /admin/api/jobs and the job page /admin/api/jobs/<id> (every
 * data-poll-ms, 2 s by default) and fill the elements marked data-field / data-href /
 * data-show-if with the JSON values, which the server formats exactly as on the pages.
 * The job page swaps in a fresh SVG from /admin/jobs/<id>/chart.svg when an epoch finishes.
 * Text goes in with textContent only; the SVG is our own server's, escaped there.
 */
(function () {
  "use strict";

  var DASH = "\u2014";
  var pollError = null;

  function showError(message) {
    if (!pollError) pollError = document.getElementById("poll-error");
    if (!pollError) return;
    pollError.hidden = !message;
    if (message) pollError.querySelector("span").textContent = message;
  }

  /* Fetch JSON from `url` every `ms` (paused while the tab is hidden). `onData` returns false to stop. */
  function poll(url, ms, onData) {
    var timer = null;
    var stopped = false;
    function schedule() { if (!stopped) timer = window.setTimeout(tick, ms); }
    function tick() {
      if (document.hidden) { schedule(); return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) {
            window.location.assign(document.body.dataset.loginUrl + "?next=" +
              encodeURIComponent(window.location.pathname + window.location.search));
            throw new Error("signed out");
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          showError(null);
          if (onData(data) === false) stopped = true;
        })
        .catch(function (err) { showError(err.message || String(err)); })
        .then(schedule);
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !stopped) { window.clearTimeout(timer); tick(); }
    });
    schedule();
  }

  function text(value, fallback) {
    return value === null || value === undefined || value === "" ? fallback : String(value);
  }

  /* Fill every marked element inside `root` from `obj`. */
  function fill(root, obj) {
    var nodes = [root].concat(Array.prototype.slice.call(root.querySelectorAll("[data-field], [data-href], [data-show-if], [data-title]")));
    nodes.forEach(function (el) {
      if (!el.dataset) return;
      var rowsBox = el.closest("[data-rows]");
      if (rowsBox && rowsBox !== root && root.contains(rowsBox)) return; // rows: see renderRows
      var key = el.dataset.field;
      if (key === "status") {
        el.textContent = obj.status;
        el.className = "badge badge-" + obj.status;
      } else if (key === "cancelling") {
        el.hidden = !(obj.cancel_requested && obj.status === "running");
      } else if (key && el.tagName === "PROGRESS") {
        if (obj.fraction === null || obj.fraction === undefined) el.removeAttribute("value");
        else el.value = obj.fraction;
        el.title = obj.progress_label || "";
        el.textContent = obj.progress_label || "";
      } else if (key && key in obj) {
        var empty = el.dataset.empty !== undefined ? el.dataset.empty : DASH;
        var value = text(obj[key], empty);
        el.textContent = value === empty ? value : (el.dataset.prefix || "") + value;
        if (el.dataset.empty !== undefined) el.hidden = value === empty;
      }
      if (el.dataset.href) {
        var href = obj[el.dataset.href];
        el.hidden = !href;
        if (href) el.setAttribute("href", href);
      }
      if (el.dataset.showIf) el.hidden = !obj[el.dataset.showIf];
      if (el.dataset.title) el.title = obj[el.dataset.title] || ""; // an age's absolute time
    });
  }

  /* ---- jobs page ---------------------------------------------------------------------- */

  function jobsPage() {
    var body = document.getElementById("jobs-body");
    var template = document.getElementById("job-row-template");
    if (!body || !template) return;
    poll(body.dataset.pollUrl, Number(body.dataset.pollMs) || 2000, function (data) {
      var rows = {};
      Array.prototype.forEach.call(body.querySelectorAll("tr[data-job-id]"), function (tr) {
        rows[tr.dataset.jobId] = tr;
      });
      data.jobs.forEach(function (job) {
        var tr = rows[String(job.id)];
        if (tr) delete rows[String(job.id)];
        else {
          tr = template.content.querySelector("tr").cloneNode(true);
          tr.dataset.jobId = String(job.id);
        }
        fill(tr, job);
        body.appendChild(tr); // keeps the server's order (newest first)
      });
      Object.keys(rows).forEach(function (id) { rows[id].remove(); });
      document.getElementById("jobs-empty").hidden = data.jobs.length > 0;
      Object.keys(data.counts || {}).forEach(function (status) {
        var el = document.querySelector('[data-count="' + status + '"]');
        if (el) el.textContent = data.counts[status];
      });
    });
  }

  /* ---- job page ----------------------------------------------------------------------- */

  function renderRows(container, items) {
    container.querySelectorAll("tbody[data-rows]").forEach(function (tbody) {
      var list = items[tbody.dataset.rows];
      var template = document.getElementById(tbody.dataset.template);
      if (!list || !template) return;
      var rows = list.map(function (item) {
        var tr = template.content.querySelector("tr").cloneNode(true);
        fill(tr, item);
        return tr;
      });
      tbody.replaceChildren.apply(tbody, rows);
    });
    container.querySelectorAll("[data-empty-for]").forEach(function (el) {
      var list = items[el.dataset.emptyFor];
      if (list) el.hidden = list.length > 0;
    });
  }

  function refreshChart(chart, version) {
    if (String(version) === chart.dataset.version) return;
    fetch(chart.dataset.chartUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("chart: HTTP " + response.status);
        return response.text();
      })
      .then(function (svg) {
        var doc = new DOMParser().parseFromString(svg, "image/svg+xml");
        var root = doc.documentElement;
        if (!root || root.nodeName !== "svg") throw new Error("chart: not an SVG");
        chart.replaceChildren(document.importNode(root, true));
        chart.dataset.version = String(version);
      })
      .catch(function (err) { showError(err.message || String(err)); });
  }

  function jobPage() {
    var container = document.getElementById("job");
    if (!container || container.dataset.live !== "true") return; // finished jobs do not change
    var chart = document.getElementById("chart");
    poll(container.dataset.pollUrl, Number(container.dataset.pollMs) || 2000, function (job) {
      fill(container, job);
      renderRows(container, { epochs: job.epochs, samples: job.samples });
      if (chart) refreshChart(chart, job.chart_version);
      return job.live; // stop once the job and its samples are finished

    });
  }

  /* ---- confirmations ------------------------------------------------------------------ */

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var page = document.body.dataset.page;
    if (page === "jobs") jobsPage();
    else if (page === "job") jobPage();
  });
})();
