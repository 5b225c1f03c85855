// The neuron analysis view and the temperature chart, for the user pages and for the
// CLI's offline HTML report (services/web/report.py inlines this file there). No library, no inline
// handler: the data comes from <script type="application/json"> blocks, the colours are set
// through the CSSOM (allowed by the pages' CSP), the chart is drawn as SVG elements.
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  // ---- coloured text ----------------------------------------------------------------------
  function colour(v) {
    // v in -100..100: blue for positive, red for negative, stronger with |v|
    var a = Math.min(Math.abs(v) / 100, 1).toFixed(2);
    return v >= 0 ? "rgba(37, 99, 235, " + a + ")" : "rgba(220, 38, 38, " + a + ")";
  }

  function setupNeurons(root, data) {
    var textBox = root.querySelector("[data-role=coloured-text]");
    var picker = root.querySelector("[data-role=cell-picker]");
    var label = root.querySelector("[data-role=cell-label]");
    if (!textBox || !picker || !data.cells || !data.cells.length) return;
    var byKey = {};
    data.cells.forEach(function (cell) { byKey[cell.layer + ":" + cell.unit] = cell; });
    var spans = [];
    var text = data.text;
    textBox.textContent = "";
    var frag = document.createDocumentFragment();
    for (var i = 0; i < text.length; i++) {
      var span = document.createElement("span");
      var ch = text[i];
      span.textContent = ch === "\n" ? "\u21b5\n" : ch;
      if (ch === "\n") span.className = "nl";
      frag.appendChild(span);
      spans.push(span);
    }
    textBox.appendChild(frag);

    function show(key) {
      var cell = byKey[key];
      if (!cell) return false;
      for (var i = 0; i < spans.length; i++) {
        var v = cell.values[i] || 0;
        spans[i].style.backgroundColor = colour(v);
        spans[i].title = "layer " + cell.layer + " unit " + cell.unit + ": " + (v / (data.scale || 100)).toFixed(2);
      }
      picker.value = key;
      textBox.setAttribute("data-cell", key);
      if (label) label.textContent = "layer " + cell.layer + ", unit " + cell.unit;
      return true;
    }

    picker.addEventListener("change", function () { show(picker.value); });
    root.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[data-cell]") : null;
      if (!link) return;
      event.preventDefault();
      if (show(link.getAttribute("data-cell"))) {
        if (history.replaceState) history.replaceState(null, "", "#cell=" + link.getAttribute("data-cell"));
        textBox.scrollIntoView({ block: "nearest" });
      }
    });
    function fromHash() {
      var found = /#cell=(\d+:\d+)/.exec(location.hash || "");
      return !!(found && show(found[1]));
    }
    window.addEventListener("hashchange", fromHash);
    if (!fromHash()) show(picker.value || data.cells[0].layer + ":" + data.cells[0].unit);
  }

  // ---- temperature chart ------------------------------------------------------------------
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];

  function svg(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function shown(ch) {
    if (ch === "\n") return "\u21b5";
    if (ch === " ") return "\u2423";
    if (ch === "\t") return "\u21e5";
    return ch;
  }

  function drawChart(box, dist, limit) {
    box.textContent = "";
    var n = Math.min(dist.characters.length, limit || 20);
    var temps = dist.temperatures;
    var width = 760, height = 300, left = 44, bottom = 40, top = 16, right = 10;
    var plotW = width - left - right, plotH = height - top - bottom;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, width: "100%", role: "img",
      "aria-label": "next-character probabilities", "data-role": "chart-svg" }, box);
    var max = 0;
    dist.probabilities.forEach(function (row) { for (var i = 0; i < n; i++) max = Math.max(max, row[i]); });
    max = max > 0 ? max : 1;
    for (var g = 0; g <= 4; g++) {
      var y = top + plotH - (plotH * g) / 4;
      svg("line", { x1: left, x2: width - right, y1: y, y2: y, stroke: "#e5e7eb" }, root);
      var t = svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#6b7280" }, root);
      t.textContent = ((max * g) / 4).toFixed(2);
    }
    var group = plotW / n, bar = Math.max(1, (group * 0.8) / temps.length);
    for (var i = 0; i < n; i++) {
      var x0 = left + group * i + group * 0.1;
      temps.forEach(function (temp, k) {
        var p = dist.probabilities[k][i], h = (plotH * p) / max;
        var rect = svg("rect", { x: x0 + bar * k, y: top + plotH - h, width: bar, height: Math.max(h, 0),
          fill: PALETTE[k % PALETTE.length], "data-role": "bar" }, root);
        svg("title", {}, rect).textContent = JSON.stringify(dist.characters[i]) + " at T=" + temp + ": " + p.toFixed(4);
      });
      var label = svg("text", { x: x0 + (bar * temps.length) / 2, y: height - bottom + 16, "text-anchor": "middle",
        "font-size": 13, "font-family": "monospace", fill: "#111827", "data-role": "bar-label" }, root);
      label.textContent = shown(dist.characters[i]);
    }
    temps.forEach(function (temp, k) {
      var x = left + k * 90;
      svg("rect", { x: x, y: height - 14, width: 10, height: 10, fill: PALETTE[k % PALETTE.length] }, root);
      svg("text", { x: x + 14, y: height - 5, "font-size": 11, fill: "#374151" }, root).textContent = "T = " + temp;
    });
    box.setAttribute("data-first", dist.characters[0] || "");
  }

  function setupChart(root, dist) {
    var box = root.querySelector("[data-role=chart]");
    if (!box) return;
    var limit = parseInt(box.getAttribute("data-limit") || "20", 10);
    if (dist) drawChart(box, dist, limit);
    var prompt = root.querySelector("[data-role=prompt]");
    var status = root.querySelector("[data-role=chart-status]");
    var url = box.getAttribute("data-next-url");
    if (!prompt || !url) return;
    var timer = null, asked = 0;
    function ask() {
      var mine = ++asked;
      if (!prompt.value) return;
      var query = "prompt=" + encodeURIComponent(prompt.value) + "&temperatures=" +
        encodeURIComponent(box.getAttribute("data-temperatures") || "0.2,0.5,1.0,1.5");
      if (status) status.textContent = "…";
      fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) { return { ok: response.ok, body: body }; });
        })
        .then(function (answer) {
          if (mine !== asked) return;  // a newer prompt is on its way
          if (!answer.ok) { if (status) status.textContent = answer.body.error || "error"; return; }
          drawChart(box, answer.body, limit);
          box.setAttribute("data-prompt", prompt.value);
          if (status) status.textContent = "after " + answer.body.prompt_chars + " characters";
        })
        .catch(function () { if (mine === asked && status) status.textContent = "the server did not answer"; });
    }
    prompt.addEventListener("input", function () {
      if (timer) clearTimeout(timer);
      timer = setTimeout(ask, 250);
    });
    if (!dist) ask();  // no numbers came with the page: the chart asks for them at once
  }

  function init() {
    var root = document.getElementById("analysis-view");
    if (!root) return;
    var data = readJson("analysis-data");
    if (data) setupNeurons(root, data);
    setupChart(root, readJson("next-char-data"));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
