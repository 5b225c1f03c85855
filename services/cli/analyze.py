"""`charlstm analyze RUN|JOB`: the neuron analysis and the temperature chart of a model, written as
one HTML report that opens offline (services/web/report.py, the same view as the user pages).

A local run or checkpoint folder is analysed here; a job id on the service (the same resolution
rule as `charlstm sample`) is analysed by a sampling worker, and its result downloaded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .flags import positive_int
from .http import add_service_flags

ANALYSIS_FINISHED = ("succeeded", "failed", "cancelled")


def register(sub) -> None:
    analyze = sub.add_parser(
        "analyze", help="discover what the model's cells track; write an HTML report (opens offline)"
    )
    analyze.add_argument("target", metavar="RUN|JOB", help="a checkpoint or run folder, or a job id on the service")
    analyze.add_argument(
        "--text",
        type=Path,
        help="the text to run the model over (default: the tail of --corpus; a local run without --corpus: "
        "the start of its corpus kept in the checkpoint; a job: the tail of its corpus)",
    )
    analyze.add_argument("--corpus", type=Path, help="local: the corpus whose tail is analysed by default")
    analyze.add_argument(
        "--chars", type=positive_int, default=5000, help="local: characters of that tail (default 5000)"
    )
    analyze.add_argument("--epoch", type=positive_int, help="service: the checkpoint's epoch (default the best)")
    analyze.add_argument("--prompt", help="the temperature chart's prompt (default a line of Python)")
    analyze.add_argument("--out", type=Path, default=Path("report.html"), help="the report (default report.html)")
    analyze.add_argument("--interval", type=float, default=1.0, help="service: seconds between polls")
    where = analyze.add_mutually_exclusive_group()
    where.add_argument("--service", action="store_true", help="TARGET is a job on the service")
    where.add_argument("--local", action="store_true", help="TARGET is a folder here")
    add_service_flags(analyze)
    analyze.set_defaults(run=run_analyze)


def run_analyze(args) -> int:
    from ..web.report import DEFAULT_PROMPT, standalone

    prompt = args.prompt or DEFAULT_PROMPT
    text = args.text.read_text(encoding="utf-8") if args.text else None
    remote = args.service or (not args.local and args.target.isdigit() and not Path(args.target).exists())
    if remote:
        if not args.target.isdigit():
            raise ValueError(f"--service needs a job id, not {args.target!r}")
        title, result, distribution = _remote(args, int(args.target), text, prompt)
        if result is None:
            return 1
    else:
        title, result, distribution = _local(args, text, prompt)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(standalone(title, result, distribution, prompt), encoding="utf-8")
    _summary(result)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _local(args, text: str | None, prompt: str):
    from shared.engine.data.corpus import read_text
    from shared.engine.inference.sample import load_sampler
    from shared.engine.inference.temperature import next_char_distribution
    from shared.engine.inspection.analysis import analyze, held_out
    from shared.engine.training.checkpoint import resolve

    folder = resolve(Path(args.target))
    sampler = load_sampler(folder)
    if text is None:
        text = held_out(read_text(args.corpus), args.chars) if args.corpus else sampler.warmup_text
    result = analyze(sampler, text)
    distribution = next_char_distribution(sampler, prompt, top=40).to_dict()
    return f"charlstm analysis: {folder}", result, distribution


def _remote(args, job_id: int, text: str | None, prompt: str):
    import json
    import tempfile

    from .client import make_client, poll

    client = make_client(args)
    body = {k: v for k, v in {"text": text, "epoch": args.epoch}.items() if v is not None}
    analysis = client.post(f"jobs/{job_id}/analyses", body)
    analysis_id, failures = analysis["id"], 0
    while analysis["status"] not in ANALYSIS_FINISHED:
        print(f"analysis {analysis_id} {analysis['status']}", file=sys.stderr)
        time.sleep(args.interval)
        polled, failures = poll(client, f"analyses/{analysis_id}", failures)
        analysis = polled or analysis
    if analysis["status"] != "succeeded":
        print(
            f"analysis {analysis_id} {analysis['status']}: {analysis.get('error') or 'no reason given'}",
            file=sys.stderr,
        )
        return None, None, None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "result.json"
        client.download(f"analyses/{analysis_id}/result", path)
        result = json.loads(path.read_text(encoding="utf-8"))
    distribution = client.get(f"jobs/{job_id}/next-char", prompt=prompt, top=40, epoch=analysis["epoch"])
    return f"charlstm analysis {analysis_id}: job {job_id}, epoch {analysis['epoch']}", result, distribution


def _summary(result: dict) -> None:
    """The best cell per feature, on stderr; for a feature constant over the text, why it has none."""
    constant = result.get("constant", {})  # absent from results stored before constant features were named
    for feature in result["features"]:
        if feature in constant or not result["top"].get(feature):
            print(f"{feature:>14}: {constant.get(feature, 'no cell')}", file=sys.stderr)
            continue
        best = result["top"][feature][0]
        print(
            f"{feature:>14}: layer {best['layer']} unit {best['unit']} r = {best['correlation']:+.4f}",
            file=sys.stderr,
        )
