"""`charlstm sample DIR|JOB`: generate text from a checkpoint or run folder here (local.py), or
from a job on the service (client.py)."""

from pathlib import Path

from shared.engine.inference.sample import PRECISIONS

from .client import run_remote_sample
from .flags import positive_float, positive_int, probability
from .http import add_service_flags
from .local import run_local_sample


def register(sub) -> None:
    sample = sub.add_parser(
        "sample", help="generate text: from a checkpoint or run folder here, or from a job on the service"
    )
    sample.add_argument(
        "target", metavar="DIR|JOB", help="a checkpoint or run folder, or a job id on the service (see --service)"
    )
    sample.add_argument("--length", type=positive_int, default=50_000, help="new characters (default 50000)")
    sample.add_argument(
        "--temperature", type=positive_float, action="append", help="diversity; repeat for several (default 0.75)"
    )
    sample.add_argument("--greedy", action="store_true", help="also a text at temperature 0: the likeliest character")
    sample.add_argument("--top-k", type=positive_int, help="draw among the k likeliest characters only")
    sample.add_argument("--top-p", type=probability, help="draw within the likeliest mass p only")
    sample.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="weights to sample with: float32 (exact; the local default) or int8 (about 2x faster, near-equal; "
        "the service's default)",
    )
    sample.add_argument(
        "--threads", type=positive_int, help="local int8: kernel threads (default: every core this process may use)"
    )
    sample.add_argument(
        "--epoch", type=positive_int, help="the checkpoint epoch to sample from (default: the best epoch)"
    )
    sample.add_argument(
        "--corpus", type=Path, help="local: the training corpus, for the novelty and character divergence figures"
    )
    sample.add_argument("--no-quality", action="store_true", help="do not print the quality figures")
    sample.add_argument("--seed-text", help="warm-up text (default: a slice of the corpus)")
    sample.add_argument("--count", type=positive_int, default=1, help="samples per temperature")
    sample.add_argument("--random-seed", type=int, help="makes the output reproducible")
    sample.add_argument(
        "--out",
        type=Path,
        help="output file (default stdout); several texts: one file each named after it, or one zip if it ends in .zip",
    )
    sample.add_argument("--interval", type=float, default=1.0, help="service: seconds between polls")
    sample.add_argument(
        "--follow",
        action="store_true",
        help="service: print the (first) text as it is written, resuming after a dropped connection",
    )
    where = sample.add_mutually_exclusive_group()
    where.add_argument(
        "--service", action="store_true", help="TARGET is a job on the service (even if a folder has its name)"
    )
    where.add_argument("--local", action="store_true", help="TARGET is a folder here")
    add_service_flags(sample)
    sample.set_defaults(run=run_sample)


def run_sample(args) -> int:
    remote = args.service or (not args.local and args.target.isdigit() and not Path(args.target).exists())
    if remote:
        if args.corpus:
            raise ValueError("--corpus is for local sampling: the service compares with the job's own corpus")
        if args.threads:
            raise ValueError("--threads is for local sampling: the service divides its workers' cores itself")
        if not args.target.isdigit():
            raise ValueError(f"--service needs a job id, not {args.target!r}")
        args.job = int(args.target)
        return run_remote_sample(args)
    if args.follow:
        raise ValueError("--follow is for a job on the service: a local sample prints its text when done")
    return run_local_sample(args)
