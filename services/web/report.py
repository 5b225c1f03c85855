"""The neuron analysis view and the temperature chart as HTML, in one place for the user pages
(services/pages: the view inside the site's layout, its script and style served as files) and the
CLI's `charlstm analyze` (one self-contained file, script and style inlined, that opens offline).

The markup is built here; services/web/static/analysis.js reads the data from
`<script type="application/json">` blocks and does the rest in the browser: the coloured text and
its layer/unit picker (recolours without reloading; the neuron table's links pick a cell too), and
the chart (redrawn from the server when a prompt box is given a URL). No Flask here: the CLI uses
it without the web app.
"""

from __future__ import annotations

import json
from html import escape

from .folders import STATIC

SCRIPT, STYLE = "analysis.js", "analysis.css"
FEATURE_LABELS = {
    "bracket_depth": "bracket depth",
    "in_string": "inside a string",
    "in_comment": "inside a comment",
    "in_docstring": "inside a docstring",
    "indentation": "indentation level",
    "column": "column in the line",
    "line_start": "start of a line",
    "after_keyword": "after a keyword",
}
DEFAULT_PROMPT = "def main():\n    for i in range(10):\n        print("
DEFAULT_TEMPERATURES = (0.2, 0.5, 1.0, 1.5)


def json_block(element_id: str, data) -> str:
    """Data for the script, safe inside HTML (no `</script>` can end the block early)."""
    text = json.dumps(data, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{escape(element_id)}">{text}</script>'


def neuron_table(result: dict) -> str:
    """The top cells per feature, each a link that colours the text by that cell."""
    rows = []
    constant = result.get("constant", {})  # absent from results stored before constant features were named
    for feature in result["features"]:
        links = " ".join(
            f'<a href="#cell={c["layer"]}:{c["unit"]}" data-cell="{c["layer"]}:{c["unit"]}" '
            f'title="layer {c["layer"]}, unit {c["unit"]}">L{c["layer"]}:U{c["unit"]} '
            f'<span class="muted">{c["correlation"]:+.3f}</span></a>'
            for c in result["top"].get(feature, [])
        )
        if feature in constant:
            links = escape(constant[feature])
        label = FEATURE_LABELS.get(feature, feature)
        rows.append(f'<tr data-feature="{escape(feature)}"><th>{escape(label)}</th><td>{links}</td></tr>')
    return (
        '<table class="neurons" data-role="neuron-table"><thead><tr><th>Feature</th>'
        "<th>Most correlated cells (layer:unit, correlation)</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def cell_picker(result: dict) -> str:
    """A select of every cell whose activations the result holds (the top cells), grouped by layer."""
    best: dict[tuple[int, int], tuple[str, float]] = {}
    for feature, cells in result["top"].items():
        for cell in cells:
            key = (cell["layer"], cell["unit"])
            if key not in best or abs(cell["correlation"]) > abs(best[key][1]):
                best[key] = (feature, cell["correlation"])
    options = []
    for cell in sorted(result["cells"], key=lambda c: (c["layer"], c["unit"])):
        key = (cell["layer"], cell["unit"])
        feature, r = best.get(key, ("", 0.0))
        note = f" ({FEATURE_LABELS.get(feature, feature)} {r:+.2f})" if feature else ""
        value = f"{cell['layer']}:{cell['unit']}"
        options.append(f'<option value="{value}">layer {cell["layer"]}, unit {cell["unit"]}{escape(note)}</option>')
    first = next((cells[0] for cells in result["top"].values() if cells), None)
    selected = f"{first['layer']}:{first['unit']}" if first else ""
    html = "".join(options).replace(f'value="{selected}"', f'value="{selected}" selected', 1)
    return f'<select data-role="cell-picker" id="cell-picker" aria-label="cell">{html}</select>'


def neurons_section(result: dict) -> str:
    """The neuron table, the picker and the coloured text (filled in by the script)."""
    return (
        '<section class="card" data-role="neurons"><h2>Discovered neurons</h2>'
        f'<p class="muted small">{len(result["text"]):,} characters read; {result["layers"]} layers of '
        f"{result['units']} units; correlation of each cell state with each feature of the text.</p>"
        + neuron_table(result)
        + "</section>"
        '<section class="card" data-role="coloured"><h2>Coloured text</h2><div class="cell-controls">'
        '<label for="cell-picker">Cell</label>' + cell_picker(result) + '<span data-role="cell-label" class="muted">'
        '</span><span class="small"><span class="legend-pos">high</span> <span class="legend-neg">low</span> '
        "(tanh of the cell state)</span></div>"
        f'<pre class="coloured-text" data-role="coloured-text">{escape(result["text"])}</pre></section>'
    )


def chart_section(distribution: dict | None, next_url: str | None = None, prompt: str = DEFAULT_PROMPT) -> str:
    """The temperature chart: bars per character and temperature; with `next_url`, a prompt box
    that asks the server again as the user types."""
    temps = ",".join(str(t) for t in (distribution or {}).get("temperatures", DEFAULT_TEMPERATURES))
    box = ""
    if next_url:
        box = (
            '<label for="prompt">Prompt (the chart redraws as you type)</label>'
            '<textarea id="prompt" class="prompt-box" data-role="prompt" spellcheck="false">'
            f"{escape(prompt)}</textarea>"
        )
    else:
        box = f'<p class="muted small">After the prompt: <code>{escape(prompt)}</code></p>'
    url = f' data-next-url="{escape(next_url)}"' if next_url else ""
    return (
        '<section class="card" data-role="temperature"><h2>Next character at several temperatures</h2>'
        + box
        + '<p class="muted small" data-role="chart-status"></p>'
        f'<div class="chart-box" data-role="chart" data-limit="20" data-temperatures="{escape(temps)}"{url}></div>'
        "</section>"
    )


def view(
    result: dict | None, distribution: dict | None, next_url: str | None = None, prompt: str = DEFAULT_PROMPT
) -> str:
    """The body of the page or report: the neuron view (with `result`), the chart, their data."""
    parts = ['<div id="analysis-view">']
    if result is not None:
        parts += [neurons_section(result), json_block("analysis-data", result)]
    if distribution is not None or next_url:  # no checkpoint left to ask: no chart card at all
        parts.append(chart_section(distribution, next_url, prompt))
    if distribution is not None:
        parts.append(json_block("next-char-data", distribution))
    parts.append("</div>")
    return "".join(parts)


def standalone(title: str, result: dict | None, distribution: dict | None, prompt: str = DEFAULT_PROMPT) -> str:
    """One HTML file that opens offline: the view with its script and style inlined."""
    script = (STATIC / SCRIPT).read_text(encoding="utf-8").replace("</script", "<\\/script")
    style = (STATIC / STYLE).read_text(encoding="utf-8")
    base = (
        "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#111827}"
        ".card{border:1px solid #e5e7eb;border-radius:8px;padding:1rem 1.25rem;margin-bottom:1rem}"
        ".muted{color:#6b7280}.small{font-size:12px}h2{font-size:15px}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{base}{style}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        + view(result, distribution, None, prompt)
        + f"<script>{script}</script></body></html>"
    )
