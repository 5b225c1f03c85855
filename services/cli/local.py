"""Local engine commands: no service needed. `corpus build|stats`, `train`, and `run_local_sample`
for `sample DIR` (the `sample` command is in sample.py)."""

import sys
from pathlib import Path

from .flags import add_hyperparameter_flags, hyperparameters_from_args, positive_int
from .progress import ProgressCallbacks, bar


def register(sub) -> None:
    corpus = sub.add_parser("corpus", help="build a corpus or report its characters")
    csub = corpus.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    build = csub.add_parser("build", help="concatenate files under a folder, or the built-in Python corpus")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", type=Path, help="folder to read files from")
    source.add_argument("--builtin", choices=["python"], help="this machine's Python standard library")
    build.add_argument("--glob", default="**/*.py", help="file pattern under --folder (default **/*.py)")
    build.add_argument("--strip-docs", action="store_true", help="drop docstrings and comments")
    build.add_argument("--max-chars", type=positive_int, help="stop after this many characters")
    build.add_argument("--out", type=Path, required=True, help="where to write the corpus")
    build.set_defaults(run=run_corpus_build)
    stats = csub.add_parser("stats", help="characters before and after cleaning, vocabulary, sizes")
    stats.add_argument("file", type=Path)
    stats.add_argument("--lowercase", action="store_true")
    stats.add_argument("--tabs", action="store_true")
    stats.set_defaults(run=run_corpus_stats)

    train = sub.add_parser("train", help="train a model on a corpus file")
    train.add_argument("corpus", type=Path)
    train.add_argument("--out", type=Path, required=True, help="run folder for checkpoints")
    train.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    add_hyperparameter_flags(train)
    train.set_defaults(run=run_train)


def run_corpus_build(args) -> int:
    from shared.engine.data import assembly
    from shared.engine.data.stats import corpus_stats

    if args.builtin:
        text = assembly.builtin_python_corpus(strip_docs=args.strip_docs, max_chars=args.max_chars)
    else:
        text = assembly.build_from_folder(args.folder, args.glob, strip_docs=args.strip_docs, max_chars=args.max_chars)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(corpus_stats(text).format())
    print(f"wrote {args.out}")
    return 0


def run_corpus_stats(args) -> int:
    from shared.engine.data.corpus import read_text
    from shared.engine.data.stats import corpus_stats

    raw = read_text(args.file)
    stats = corpus_stats(raw, lowercase=args.lowercase, tabs=args.tabs, raw_bytes=args.file.stat().st_size)
    print(stats.format())
    return 0


def run_train(args) -> int:
    from shared.engine.config import Hyperparameters
    from shared.engine.data.corpus import read_text
    from shared.engine.training.learning import run_verdict
    from shared.engine.training.train import resume_hyperparameters, train

    given = hyperparameters_from_args(args)
    # a resumed run keeps its architecture: flags not given come from the run's latest checkpoint
    hyperparameters = resume_hyperparameters(args.out, given) if args.resume else Hyperparameters(**given)
    raw = read_text(args.corpus)
    with ProgressCallbacks() as progress:
        result = train(raw, hyperparameters, args.out, progress, resume=args.resume)
    best = f", best epoch {result.best_epoch}" if result.best_epoch else ""
    stopped = {"budget": "the budget ran out"}.get(result.stopped, result.stopped.replace("_", " "))
    print(f"{stopped} after epoch {len(result.history)}{best}; checkpoints in {args.out}")
    if (plan := progress.plan) is not None:
        epochs = [(r.loss, r.val_loss) for r in result.history]
        verdict = run_verdict(epochs, plan.unigram_bits, plan.corpus_chars, plan.hyperparameters, len(plan.vocabulary))
        if verdict is not None:
            print(f"the model {verdict.line}")
    return 0


def run_local_sample(args) -> int:
    """`charlstm sample DIR ...`: sample from a checkpoint or run folder (`--epoch`: that epoch's
    checkpoint of a run folder) on every core this process may use (int8; `--threads` fewer); to
    --out or stdout, then the figures of every text on stderr."""
    from shared.engine.inference.sample import load_sampler, sample_names, sample_texts

    from .output import write_texts

    precision = args.precision or "float32"
    folder = checkpoint_folder(Path(args.target), args.epoch)
    sampler = load_sampler(folder, precisions=(precision,), threads=args.threads)
    temperatures = (args.temperature or ([] if args.greedy else [0.75])) + ([0.0] if args.greedy else [])
    with bar(total=args.length, unit="char", desc="sampling") as progress:
        texts = sample_texts(
            sampler, args.length, temperatures, count=args.count, seed_text=args.seed_text,
            random_seed=args.random_seed, progress=lambda done, total: progress.update(done - progress.n),
            top_k=args.top_k, top_p=args.top_p, precision=precision,
        )  # fmt: skip
    names = sample_names(temperatures, args.count)
    write_texts(texts, names, args.out)
    print(f"epoch {sampler.epoch}, precision {precision}{kernel_threads(sampler, precision)}", file=sys.stderr)
    if not args.no_quality:
        print_local_figures(texts, names, sampler, args.corpus)
    return 0


def kernel_threads(sampler, precision: str) -> str:
    """ ", N kernel threads" for a net that has them (int8), else nothing."""
    threads = getattr(sampler.net_for(precision), "threads", None)
    return "" if threads is None else f", {threads} kernel thread{'s' if threads != 1 else ''}"


def checkpoint_folder(target: Path, epoch: int | None) -> Path:
    """The folder to load: `target` itself, or with --epoch that epoch's checkpoint of a run folder."""
    from shared.engine.training.checkpoint import epoch_dir, is_checkpoint

    if epoch is None:
        return target
    folder = epoch_dir(target, epoch)
    if not is_checkpoint(folder):
        raise ValueError(f"{target} has no checkpoint of epoch {epoch} (looked for {folder})")
    return folder


def print_local_figures(texts: list[str], names: list[str], sampler, corpus: Path | None) -> None:
    """The quality figures of every text (and with --corpus the novelty and divergence), on stderr."""
    from shared.engine.data.corpus import apply_transforms, clean, read_text
    from shared.engine.measures.corpus_profile import profile_corpus
    from shared.engine.measures.novelty import CorpusIndex
    from shared.engine.measures.sample_report import BITS_CHARS, looks_like_python, measure_text, summary

    # teacher-forcing the float32 model costs about as much as sampling with it: say so before
    texts_word = "text" if len(texts) == 1 else "texts"
    against = ", novelty against the corpus" if corpus is not None else ""
    print(
        f"measuring the figures of {len(texts)} {texts_word} (the model's bits/char over the first "
        f"{BITS_CHARS:,} characters, repetition, structure{against}; --no-quality skips this) ...",
        file=sys.stderr,
        flush=True,
    )
    index = profile = None
    python = looks_like_python(sampler.warmup_text)
    if corpus is not None:
        text = apply_transforms(clean(read_text(corpus)), lowercase=sampler.hyperparameters.lowercase, tabs=False)
        index, profile = CorpusIndex.build(text), profile_corpus(text)
        python = profile.python
    for name, text in zip(names, texts, strict=True):
        quality, novelty = measure_text(text, sampler=sampler, python=python, corpus=profile, index=index)
        print(f"{name}: {summary(quality, novelty)}", file=sys.stderr)
