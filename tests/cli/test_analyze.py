"""`charlstm analyze RUN --text FILE --out report.html`: one self-contained HTML file (no link to
anything outside it) with the neuron table, the cell picker, the text and the chart's data."""

import json
from html.parser import HTMLParser

from services.cli.main import main
from tests.analysis_helpers import tiny_run


class Report(HTMLParser):
    """What the test reads back: external references, JSON blocks, table rows, picker options."""

    def __init__(self):
        super().__init__()
        self.external: list[str] = []
        self.blocks: dict[str, str] = {}
        self.features: list[str] = []
        self.cell_links: list[str] = []
        self.options: list[str] = []
        self.inline_scripts = 0
        self._block: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            if value and not value.startswith("#"):
                self.external.append(value)
        if tag == "link":
            self.external.append(attrs.get("href") or "link")
        if tag == "script":
            if attrs.get("type") == "application/json":
                self._block = attrs["id"]
                self.blocks[self._block] = ""
            else:
                self.inline_scripts += 1
        if tag == "tr" and "data-feature" in attrs:
            self.features.append(attrs["data-feature"])
        if tag == "a" and "data-cell" in attrs:
            self.cell_links.append(attrs["data-cell"])
        if tag == "option":
            self.options.append(attrs["value"])

    def handle_data(self, data):
        if self._block:
            self.blocks[self._block] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._block = None


def test_analyze_a_run_folder_writes_an_offline_report(tmp_path, capsys):
    text = tmp_path / "code.py"
    docstring = '    """A class."""\n'  # every feature varies over the text
    body = "    def f(self, x):\n        return [x, (x, {1: '</script '})]  # note\n"
    given = ("class A:\n" + docstring + body) * 10
    text.write_text(given, encoding="utf-8")
    out = tmp_path / "report.html"
    code = main(["analyze", str(tiny_run()), "--text", str(text), "--out", str(out), "--prompt", "def f("])
    assert code == 0
    err = capsys.readouterr().err
    assert "bracket_depth: layer" in err and f"wrote {out}" in err

    report = Report()
    report.feed(out.read_text(encoding="utf-8"))
    assert report.external == []  # opens offline: nothing to fetch
    assert report.inline_scripts == 1
    result = json.loads(report.blocks["analysis-data"])
    chart = json.loads(report.blocks["next-char-data"])
    assert result["text"] == given  # '</script ' inside the data did not end the block
    assert report.features == result["features"] and len(report.features) == 8
    assert len(report.cell_links) == 8 * 10
    assert set(report.cell_links) == set(report.options) == {f"{c['layer']}:{c['unit']}" for c in result["cells"]}
    assert all(len(c["values"]) == len(given) for c in result["cells"])
    assert chart["prompt_chars"] == len("def f(") and len(chart["probabilities"]) == 4
