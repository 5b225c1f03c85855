"""`make bench`: every benchmark, each a ratio measured within one run; JSON in bench-results/."""

from . import load, quality, sample_figures, sampling, targets, training, upload


def main() -> None:
    sampling.main()
    training.main()
    upload.main()
    load.main()
    quality.main()
    sample_figures.main()
    print(targets.summary())


if __name__ == "__main__":
    main()
