"""`charlstm sweep CORPUS_ID ...` (one job per combination of the comma lists given to `train`'s
flags, per entry of a JSON variants file, or per run of the paper questions study with `--study`)
and `charlstm compare` (the comparison table of a sweep or of jobs), on the service."""

import argparse
import json
import math
from pathlib import Path

from shared.research import study
from shared.research.comparison import varying_columns

from .client import make_client
from .flags import add_sweep_flags, positive_int, sweep_from_args
from .http import ClientError, add_service_flags
from .tables import print_json, print_table


def register(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_service_flags(common)

    sweep = sub.add_parser(
        "sweep",
        help="queue one training job per combination of hyperparameter values",
        parents=[common],
        description="Flags are `train`'s, each taking a comma list: `--optimizer rmsprop,adam --seed 0,1` "
        "queues four jobs. One value goes to every job.",
    )
    sweep.set_defaults(run=run_sweep)
    sweep.add_argument("corpus_id", type=positive_int, metavar="CORPUS_ID")
    sweep.add_argument("--variants", type=Path, metavar="FILE", help="a JSON list of variants instead of a grid")
    sweep.add_argument(
        "--study",
        choices=sorted(study.SCALES),
        help="the paper questions study at this scale (make study's 12 runs): no other variants or flags",
    )
    sweep.add_argument("--name", help="a label for the sweep")
    sweep.add_argument("--max-jobs", type=positive_int, help="refuse a sweep of more jobs than this")
    sweep.add_argument("--max-epochs", type=positive_int, help="each job's epochs at most")
    sweep.add_argument("-q", "--quiet", action="store_true", help="print only the sweep id")
    sweep.add_argument("--json", action="store_true", help="print the API's JSON")
    add_sweep_flags(sweep)

    compare = sub.add_parser("compare", help="compare jobs: a sweep's, or a list", parents=[common])
    compare.set_defaults(run=run_compare)
    compare.add_argument("jobs", nargs="*", type=positive_int, metavar="JOB")
    compare.add_argument("--sweep", type=positive_int, help="compare this sweep's jobs")
    compare.add_argument("--smoothing", type=float, default=0.0, help="EMA weight in [0, 1) for the curves (JSON)")
    compare.add_argument("--json", action="store_true", help="print the API's JSON")


def sweep_body(args) -> dict:
    base, grid = sweep_from_args(args)
    body: dict = {"corpus_id": args.corpus_id, "base": base}
    if args.study is not None:
        if args.variants is not None or base or grid:
            given = ["--variants"] * (args.variants is not None) + [
                f"--{n.replace('_', '-')}" for n in {**base, **grid}
            ]
            raise ClientError(f"--study is a whole sweep: give it no variants or hyperparameters ({', '.join(given)})")
        body = study.sweep_body(args.study, args.corpus_id)
    elif args.variants is not None:
        if grid:
            raise ClientError(f"give either --variants or comma lists, not both (lists: {', '.join(grid)})")
        body["variants"] = json.loads(args.variants.read_text())
    else:
        body["grid"] = grid or {"seed": [base.pop("seed", 0)]}  # one job: the base
    budget = {"max_jobs": args.max_jobs, "max_epochs": args.max_epochs}
    if any(v is not None for v in budget.values()):
        body["budget"] = {k: v for k, v in budget.items() if v is not None}
    if args.name:
        body["name"] = args.name
    return body


def run_sweep(args) -> int:
    sweep = make_client(args).post("sweeps", sweep_body(args))
    if args.json:
        print_json(sweep)
    elif args.quiet:
        print(sweep["id"])
    else:
        print(f"sweep {sweep['id']}: {sweep['jobs_total']} jobs queued (corpus {sweep['corpus_id']})")
        rows = [("JOB", "VARIANT")]
        rows += [(str(j["id"]), " ".join(f"{k}={v}" for k, v in j["variant"].items()) or "-") for j in sweep["jobs"]]
        print_table(rows)
        print(f"compare them with: charlstm compare --sweep {sweep['id']}")
    return 0


def run_compare(args) -> int:
    if bool(args.jobs) == bool(args.sweep):
        raise ClientError("give job ids or --sweep ID (one of the two)")
    selection = {"sweep": args.sweep} if args.sweep else {"jobs": ",".join(map(str, args.jobs))}
    result = make_client(args).get("compare", smoothing=args.smoothing, **selection)
    if args.json:
        print_json(result)
        return 0
    print_table(table_rows(result))
    return 0


def _fmt(value, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def table_rows(result: dict) -> list[tuple[str, ...]]:
    names = varying_columns(result["varying"])  # epochs has its own column
    quality = [k for k in ("parse_rate", "balanced_lines") if any((r["quality"] or {}).get(k) for r in result["table"])]
    head = ("JOB", "STATUS", *(n.upper() for n in names), "EPOCHS", "BEST VAL BITS/CHAR", "AT EPOCH", "S/EPOCH",
            "CHARS/S", *(q.upper() for q in quality), "SAMPLES")  # fmt: skip
    rows = [head]
    for r in result["table"]:
        epochs = r.get("epochs_label") or str(r["epochs"])
        rows.append(
            (
                str(r["id"]), r["status"], *(str(r["varying"].get(n)) for n in names), epochs,
                _fmt(r["best_val_bits"], ".3f"), _fmt(r["best_epoch"], "d"), _fmt(r["seconds_per_epoch"], ".1f"),
                _fmt(r["chars_per_second"], ",.0f"), *(_fmt((r["quality"] or {}).get(q), ".3f") for q in quality),
                r.get("verdicts_line") or "-",
            )
        )  # fmt: skip
    return rows
