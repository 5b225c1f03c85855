"""Commands that talk to a running charlstm service: `upload`, `submit`, `jobs`, `watch`, `cancel`,
and `run_remote_sample` for `sample JOB` (the service's sampling; the `sample` command is in
sample.py).

Every command takes --url (default $CHARLSTM_URL or http://127.0.0.1:8000) and --token
(default $CHARLSTM_TOKEN).
"""

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from shared.engine.units import bits
from shared.timefmt import absolute

from .flags import add_hyperparameter_flags, hyperparameters_from_args, positive_int
from .http import ApiClient, ClientError, add_service_flags
from .labels import add_label_flags, labels_from_args
from .progress import bar, epoch_line, loss_words
from .tables import print_json, print_table

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
JOB_FINISHED = ("succeeded", "failed", "cancelled")
SAMPLE_FINISHED = ("succeeded", "failed", "cancelled")
POLL_SECONDS = 1.0
RETRY_POLLS = 30  # consecutive failed polls (server restarting, 5xx) before `watch` gives up


def register(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_service_flags(common)

    def command(name, help, run):
        parser = sub.add_parser(name, help=help, parents=[common])
        parser.set_defaults(run=run)
        return parser

    upload = command("upload", "upload a corpus file to the service", run_upload)
    upload.add_argument("file", type=Path)
    upload.add_argument("--name", help="a label for the corpus (default: the file name)")
    upload.add_argument("-q", "--quiet", action="store_true", help="print only the corpus id")

    submit = command("submit", "queue a training job on an uploaded corpus", run_submit)
    submit.add_argument("corpus_id", type=positive_int, metavar="CORPUS_ID")
    submit.add_argument("-q", "--quiet", action="store_true", help="print only the job id")
    add_hyperparameter_flags(submit)
    add_label_flags(submit)
    submit.add_argument("--keep-every", type=int, metavar="N", help="keep every Nth epoch's checkpoint (retention)")

    jobs = command("jobs", "list training jobs (with their tags and names)", run_jobs)
    jobs.add_argument("--status", choices=JOB_STATUSES)
    jobs.add_argument("--tag", help="only jobs with this tag")
    jobs.add_argument("--json", action="store_true", help="print the API's JSON")

    corpora = command("corpora", "list uploaded corpora", run_corpora)
    corpora.add_argument("--json", action="store_true", help="print the API's JSON")
    corpora.add_argument("--tag", help="only corpora with this tag")

    samples = command("samples", "list the samples asked of a job", run_samples)
    samples.add_argument("job", type=positive_int, metavar="JOB")
    samples.add_argument("--json", action="store_true", help="print the API's JSON")

    show = command("show", "one job with its hyperparameters and per-epoch history", run_show)
    show.add_argument("job", type=positive_int, metavar="JOB")
    show.add_argument("--json", action="store_true", help="print the API's JSON")

    watch = command("watch", "follow a job until it ends (exit 0 when it succeeded)", run_watch)
    watch.add_argument("job", type=positive_int, metavar="JOB")
    watch.add_argument("--interval", type=float, default=POLL_SECONDS, help="seconds between polls (default 1)")

    cancel = command("cancel", "cancel a queued or running job (or sample, or analysis)", run_cancel)
    cancel.add_argument("id", type=positive_int, metavar="ID", help="a job id (with a flag: a sample or analysis id)")
    kind = cancel.add_mutually_exclusive_group()
    kind.add_argument("--sample", action="store_true", help="ID is a sample's: stop it, nothing is stored")
    kind.add_argument("--analysis", action="store_true", help="ID is an analysis's: stop it, nothing is stored")


def make_client(args) -> ApiClient:
    """--url/--token given after the command win over those given before it."""
    client = ApiClient(args.url or getattr(args, "root_url", None), args.token or getattr(args, "root_token", None))
    if not client.token:
        raise ClientError("no API token: pass --token or set CHARLSTM_TOKEN")
    return client


# ---- upload, submit, jobs, cancel ------------------------------------------------------------


def run_upload(args) -> int:
    client = make_client(args)
    size = args.file.stat().st_size  # a missing file fails here, before any upload
    client.get("corpora", per_page=1)  # a bad token answers now, not after streaming the file
    with bar(total=size, unit="B", unit_scale=True, desc=f"uploading {args.file.name}") as progress:
        corpus = client.upload("corpora", args.file, {"name": args.name}, on_read=progress.update)
    if args.quiet:
        print(corpus["id"])
        return 0
    print(
        f"corpus {corpus['id']} ({corpus['name']}): {corpus['bytes']:,} bytes, "
        f"{corpus['raw_chars']:,} characters ({corpus['raw_unique']} distinct), "
        f"{corpus['clean_chars']:,} after cleaning ({corpus['clean_unique']} distinct)"
    )
    print(f"train on it with: charlstm submit {corpus['id']}")
    return 0


def run_submit(args) -> int:
    client = make_client(args)
    labels = labels_from_args(args)
    if args.keep_every is not None:
        labels["retention"] = {"keep_every": args.keep_every}
    job = client.post("jobs", {"corpus_id": args.corpus_id, **hyperparameters_from_args(args), **labels})
    for warning in job.get("warnings", []):  # the service's sizing advice, as `charlstm train` gives it
        print(f"warning: {warning}", file=sys.stderr)
    if args.quiet:
        print(job["id"])
        return 0
    print(f"job {job['id']} {job['status']} (corpus {args.corpus_id}, up to {job.get('epochs', '?')} epochs)")
    print(f"follow it with: charlstm watch {job['id']}")
    return 0


def all_pages(client: ApiClient, path: str, **params):
    page = 1
    while True:
        body = client.get(path, page=page, per_page=100, **params)
        yield from body["items"]
        if not body["items"] or page * body["per_page"] >= body["total"]:
            return
        page += 1


def run_jobs(args) -> int:
    jobs = list(all_pages(make_client(args), "jobs", status=args.status, tag=args.tag))
    if args.json:
        print_json(jobs)
        return 0
    if not jobs:
        print("no jobs" + (f" {args.status}" if args.status else ""))
        return 0
    rows = [("ID", "STATUS", "CORPUS", "EPOCH", "BEST VAL BITS/CHAR", "ETA", "CREATED", "TAGS", "NAME")]
    for job in jobs:
        best = job.get("best_val_loss_bits", bits(job.get("best_val_loss")))
        rows.append(
            (
                str(job["id"]),
                job["status"],
                str(job["corpus_id"]),
                f"{job['epoch']}/{job['epochs']}",
                "-" if best is None else f"{best:.3f}",
                duration(job.get("eta_seconds")),
                absolute(job.get("created_at"), "-"),
                ",".join(job.get("tags") or []) or "-",
                job.get("name") or "-",  # last: a name may hold spaces
            )
        )
    print_table(rows)
    return 0


def run_corpora(args) -> int:
    corpora = list(all_pages(make_client(args), "corpora", tag=args.tag))
    if args.json:
        print_json(corpora)
    elif not corpora:
        print("no corpora")
    else:
        rows = [("ID", "NAME", "BYTES", "CHARACTERS", "CLEANED", "DISTINCT", "CREATED")]
        rows += [(str(c["id"]), c["name"], f"{c['bytes']:,}", f"{c['raw_chars']:,}", f"{c['clean_chars']:,}",
                  str(c["clean_unique"]), absolute(c["created_at"], "-")) for c in corpora]  # fmt: skip
        print_table(rows)
    return 0


def run_samples(args) -> int:
    samples = list(all_pages(make_client(args), f"jobs/{args.job}/samples"))
    if args.json:
        print_json(samples)
    elif not samples:
        print(f"no samples of job {args.job}")
    else:
        rows = [("ID", "STATUS", "PROGRESS", "EPOCH", "PRECISION", "LENGTH", "TEMPERATURES", "COUNT", "BITS/CHAR",
                 "COPIED LINES", "CREATED")]  # fmt: skip
        rows += [(str(s["id"]), s["status"], f"{s['progress']:.0%}", str(s.get("epoch") or "-"),
                  s.get("precision") or "-", f"{s['length']:,}", ",".join(f"{t:g}" for t in s["temperatures"]),
                  str(s["count"]), per_text(s.get("quality"), "bits_per_char", "{:.3f}"),
                  per_text(s.get("novelty"), "copied_lines", "{:.0%}"),
                  absolute(s["created_at"], "-")) for s in samples]  # fmt: skip
        print_table(rows)
    return 0


def per_text(figures: list[dict] | None, key: str, fmt: str) -> str:
    """One figure of every text of a sample, "/"-separated ("-" where there is none)."""
    if not figures:
        return "-"
    return "/".join("-" if f.get(key) is None else fmt.format(f[key]) for f in figures)


def run_show(args) -> int:
    job = make_client(args).get(f"jobs/{args.job}")
    if args.json:
        print_json(job)
        return 0
    best = job.get("best_val_loss")
    print(
        f"job {job['id']}: {job['status']}, epoch {job['epoch']}/{job['epochs']} (corpus {job['corpus_id']})"
        + ("" if best is None else f", best val_loss {loss_words(best, job.get('best_val_loss_bits'))}")
    )
    if job.get("learning"):
        print(f"the model {job['learning']['line']}")
    print(show_labels(job))
    if job.get("error"):
        print(f"error: {job['error']}")
    print("hyperparameters: " + ", ".join(f"{k}={v}" for k, v in sorted(job["hyperparameters"].items())))
    for row in job.get("history") or []:
        print(epoch_line(row))
    return 0


def show_labels(job: dict) -> str:
    """Name, tags, lineage and storage of a job, one line."""
    lineage = job.get("lineage") or {}
    parts = [f"name {job.get('name') or '-'}", f"tags {','.join(job.get('tags') or []) or '-'}"]
    if lineage.get("parent_id"):
        parts.append(f"continues job {lineage['parent_id']} from epoch {lineage['parent_epoch']}")
    if lineage.get("children"):
        parts.append("continued as " + ", ".join(f"job {c}" for c in lineage["children"]))
    parts.append(f"checkpoints {job.get('storage_bytes', 0):,} bytes (epochs {job.get('checkpoint_epochs')})")
    return "; ".join(parts)


def run_cancel(args) -> int:
    if args.sample or args.analysis:  # cancelled at once (the worker learns it at its next heartbeat)
        kind = "sample" if args.sample else "analysis"
        row = make_client(args).post(f"{'samples' if args.sample else 'analyses'}/{args.id}/cancel")
        print(f"{kind} {row['id']} {row['status']}")
        return 0
    job = make_client(args).post(f"jobs/{args.id}/cancel")
    note = (
        " (cancel requested: the worker stops after its current batch)"
        if job["status"] == "running" and job.get("cancel_requested")
        else ""
    )
    print(f"job {job['id']} {job['status']}{note}")
    return 0


# ---- watch ------------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def poll(client: ApiClient, path: str, failures: int) -> tuple[dict | None, int]:
    """One GET; a missing answer or a 5xx is retried (None) up to RETRY_POLLS times in a row."""
    try:
        return client.get(path), 0
    except ClientError as exc:
        if (exc.status is not None and exc.status < 500) or failures + 1 >= RETRY_POLLS:
            raise
        tqdm.write(f"{exc}; retrying", file=sys.stderr)
        return None, failures + 1


def run_watch(args) -> int:
    return watch(make_client(args), args.job, args.interval)


def watch(client: ApiClient, job_id: int, interval: float = POLL_SECONDS) -> int:
    printed: set[int] = set()
    progress, failures = None, 0
    try:
        while True:
            job, failures = poll(client, f"jobs/{job_id}", failures)
            if job is None:
                time.sleep(interval)
                continue
            epochs = job["epochs"]
            if progress is None:
                progress = bar(total=epochs, bar_format="{desc} {percentage:3.0f}%|{bar}|")
            for row in job.get("history") or []:
                if row["epoch"] not in printed:
                    printed.add(row["epoch"])
                    tqdm.write(epoch_line(row))
            done = epochs if job["status"] == "succeeded" else min(epochs, job["epoch"] + job["progress"])
            eta = job.get("eta_seconds")
            finished = job["status"] in JOB_FINISHED
            current = job["epoch"] if finished else min(job["epoch"] + 1, epochs)
            progress.set_description_str(
                f"job {job_id} {job['status']}: epoch {current}/{epochs}"
                + ("" if finished else f" ({job['progress']:.0%})")
                + (f", eta {duration(eta)}" if eta is not None else ""),
                refresh=False,
            )
            progress.n = done
            progress.refresh()
            if finished:
                break
            time.sleep(interval)
    finally:
        if progress is not None:
            progress.close()
    if job["status"] == "succeeded":
        best = job.get("best_val_loss")
        print(
            f"job {job_id} succeeded after {job['epoch']} epochs"
            + (f", best val_loss {loss_words(best, job.get('best_val_loss_bits'))}" if best is not None else "")
        )
        if job.get("learning"):
            print(f"the model {job['learning']['line']}")
        print(f"generate text with: charlstm sample {job_id} --out sample.txt")
        return 0
    reason = f": {job['error']}" if job.get("error") else ""
    print(f"job {job_id} {job['status']}{reason}", file=sys.stderr)
    return 1


# ---- sample (on the service) ---------------------------------------------------------------------------------


def run_remote_sample(args) -> int:
    """`charlstm sample JOB ...`: ask the service for samples, follow their progress, download them
    and write them as a local sample would be written (services/cli/output.py)."""
    import tempfile

    from .follow import follow_sample
    from .output import read_download, write_texts

    client = make_client(args)
    temperatures = (args.temperature or ([] if args.greedy else [0.75])) + ([0.0] if args.greedy else [])
    body = {
        "length": args.length, "count": args.count, "seed_text": args.seed_text, "random_seed": args.random_seed,
        "temperature": temperatures[0] if len(temperatures) == 1 else temperatures, "top_k": args.top_k,
        "top_p": args.top_p, "precision": args.precision, "epoch": args.epoch,
    }  # fmt: skip
    sample = client.post(f"jobs/{args.job}/samples", {k: v for k, v in body.items() if v is not None})
    sample_id, failures, started = sample["id"], 0, time.monotonic()
    print(f"sample {sample_id}: epoch {sample.get('epoch')}, precision {sample.get('precision')}", file=sys.stderr)
    total = args.length * args.count * len(temperatures)
    follow = getattr(args, "follow", False)
    if follow:
        sample = follow_sample(client, sample_id)  # the first text on stdout as it is written
    else:
        with bar(total=total, unit="char", unit_scale=True, desc=f"sample {sample_id}") as progress:
            while sample["status"] not in SAMPLE_FINISHED:
                fraction = min(max(sample.get("progress") or 0.0, 0.0), 1.0)
                progress.set_description_str(sample_state(sample_id, sample["status"], fraction), refresh=False)
                progress.n = int(total * fraction)
                progress.refresh()
                time.sleep(args.interval)
                polled, failures = poll(client, f"samples/{sample_id}", failures)
                sample = polled or sample
    if sample["status"] != "succeeded":
        print(f"sample {sample_id} {sample['status']}: {sample.get('error') or 'no reason given'}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        download = Path(folder) / "download"
        content_type = client.download(f"samples/{sample_id}/text", download)
        size = download.stat().st_size
        texts, names = read_download(download, content_type)
    count = len(texts)
    if follow and args.out is None:
        texts, names = texts[1:], names[1:]  # the first is on stdout already
    if texts:
        write_texts(texts, names, args.out, stem=f"sample-{sample_id}")
    print(f"sample {sample_id}: {count} text(s), {size:,} bytes downloaded, {time.monotonic() - started:.0f} s",
          file=sys.stderr)  # fmt: skip
    if not getattr(args, "no_quality", False):
        print_figures(sample)
    return 0


def sample_state(sample_id: int, status: str, fraction: float) -> str:
    """The progress bar's words: a running sample with nothing generated yet is loading its
    model (seconds for a large one), which a bar at 0% does not say."""
    if status == "running" and fraction == 0:
        return f"sample {sample_id} running: loading the model"
    return f"sample {sample_id} {status}"


def print_figures(sample: dict) -> None:
    """The quality (and novelty) figures the service measured for each text, on stderr."""
    from shared.engine.measures.sample_report import summary

    novelty = {n["name"]: n for n in sample.get("novelty") or []}
    for quality in sample.get("quality") or []:
        print(f"{quality['name']}: {summary(quality, novelty.get(quality['name']))}", file=sys.stderr)
