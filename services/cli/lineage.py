"""Service commands of lineage, labels and deletion: `continue` and `fork` a job, `delete` a job, corpus or sample,
and `label` a job or corpus (name, notes, tags). `submit`, `jobs` and `corpora` take their
label flags from labels.py."""

import argparse

from .client import make_client
from .flags import add_hyperparameter_flags, hyperparameters_from_args, positive_int
from .http import add_service_flags
from .labels import add_label_flags, labels_from_args


def register(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_service_flags(common)

    def command(name, help, run):
        parser = sub.add_parser(name, help=help, parents=[common])
        parser.set_defaults(run=run)
        return parser

    cont = command("continue", "continue a finished, cancelled or failed job for more epochs (a new job)", run_continue)
    cont.add_argument("job", type=positive_int, metavar="JOB")
    cont.add_argument("--epochs", type=positive_int, required=True, help="epochs after the job's last one")
    cont.add_argument("-q", "--quiet", action="store_true", help="print only the new job's id")

    fork = command(
        "fork",
        "a new job from a job's latest checkpoint with other learning rate, optimizer, clipnorm, dropout, "
        "batch size or patience (--epochs: how many more)",
        run_fork,
    )
    fork.add_argument("job", type=positive_int, metavar="JOB")
    fork.add_argument("-q", "--quiet", action="store_true", help="print only the new job's id")
    add_hyperparameter_flags(fork)

    delete = command("delete", "delete a job, a corpus or a sample with its stored files", run_delete)
    delete.add_argument("kind", choices=("job", "corpus", "sample"))
    delete.add_argument("id", type=positive_int, metavar="ID")
    delete.add_argument("--cancel", action="store_true", help="job: cancel it first if it is queued or running")
    delete.add_argument("--with-jobs", action="store_true", help="corpus: delete the jobs that use it too")

    label = command("label", "set the name, notes or tags of a job or a corpus", run_label)
    label.add_argument("kind", choices=("job", "corpus"))
    label.add_argument("id", type=positive_int, metavar="ID")
    add_label_flags(label)
    label.add_argument("--clear-tags", action="store_true", help="remove every tag")


def _made(job: dict, quiet: bool, verb: str) -> int:
    if quiet:
        print(job["id"])
        return 0
    lineage = job.get("lineage") or {}
    print(
        f"job {job['id']} {job['status']}: {verb} job {lineage.get('parent_id')} from its epoch "
        f"{lineage.get('parent_epoch')}, up to epoch {job['epochs']}"
    )
    print(f"follow it with: charlstm watch {job['id']}")
    return 0


def run_continue(args) -> int:
    job = make_client(args).post(f"jobs/{args.job}/continue", {"epochs": args.epochs})
    return _made(job, args.quiet, "continues")


def run_fork(args) -> int:
    job = make_client(args).post(f"jobs/{args.job}/fork", hyperparameters_from_args(args))
    return _made(job, args.quiet, "forks")


PATHS = {"job": "jobs", "corpus": "corpora", "sample": "samples"}


def run_delete(args) -> int:
    params = {"cancel": "true"} if args.cancel else {"with_jobs": "true"} if args.with_jobs else {}
    if args.kind != "job":
        params.pop("cancel", None)
    if args.kind != "corpus":
        params.pop("with_jobs", None)
    answer = make_client(args).request("DELETE", f"{PATHS[args.kind]}/{args.id}", params=params).json()
    note = " (it stops after its current batch; the delete finishes then)" if answer["status"] == "deleting" else ""
    print(f"{args.kind} {args.id} {answer['status']}{note}")
    return 0


def run_label(args) -> int:
    body = labels_from_args(args)
    record = make_client(args).request("PATCH", f"{PATHS[args.kind]}/{args.id}", json=body).json()
    tags = ",".join(record.get("tags") or []) or "-"
    print(f"{args.kind} {record['id']}: name {record.get('name') or '-'}, tags {tags}")
    return 0
