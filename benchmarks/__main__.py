"""`make bench`: every benchmark, each a ratio measured within one run; JSON in bench-results/."""

from . import sampling, training, upload


def main() -> None:
    sampling.main()
    training.main()
    upload.main()


if __name__ == "__main__":
    main()
