"""The recipe's measurements: the third-party corpus they train on, and the table they write."""

from pathlib import Path

from benchmarks.recipe import markdown
from benchmarks.thirdparty import HELDOUT_EVERY, _is_heldout, _stdlib_lines, is_test_file, third_party_python


def test_the_third_party_corpus_has_no_tests_no_stdlib_copies_and_holds_out_whole_files():
    corpus = third_party_python(60_000, 10_000)
    assert len(corpus.train) == 60_000 and len(corpus.heldout) == 10_000
    assert corpus.files > 1 and corpus.heldout_files >= 1
    train_lines = {line for line in corpus.train.splitlines() if len(line.strip()) >= 20}
    stdlib = _stdlib_lines()
    assert len({line.strip() for line in train_lines} & stdlib) < 0.3 * len(train_lines)
    assert '"""' not in corpus.train  # docstrings stripped
    # the same pins give the same texts
    assert third_party_python(60_000, 10_000) == corpus


def test_test_files_and_heldout_choice():
    assert is_test_file(Path("keras/src/layers/core/dense_test.py"))
    assert is_test_file(Path("sqlalchemy/testing/fixtures.py")) and is_test_file(Path("pkg/conftest.py"))
    assert not is_test_file(Path("keras/src/layers/core/dense.py"))
    names = [f"pkg/module_{i}.py" for i in range(2000)]
    share = sum(map(_is_heldout, names)) / len(names)
    assert abs(share - 1 / HELDOUT_EVERY) < 0.02


def test_the_table_compares_every_row_with_the_recipe_and_shows_the_seed_spread():
    rows = [
        {"row": "recipe", "change": "the recipe", "chars_per_second": 100.0, "epochs": 4, "heldout_bits": 2.0},
        {"row": "recipe", "change": "the recipe", "chars_per_second": 120.0, "epochs": 5, "heldout_bits": 2.2},
        {"row": "rmsprop", "change": "RMSprop", "chars_per_second": 90.0, "epochs": 4, "heldout_bits": 2.5},
    ]
    speeds = [
        {"shape": "2 x 256", "variant": "float32", "chars_per_second": 100.0},
        {"shape": "2 x 256", "variant": "mixed_bfloat16", "chars_per_second": 150.0},
        {"shape": "2 x 256", "variant": "xla", "chars_per_second": 90.0},
    ]
    table = markdown({"rows": rows, "speeds": speeds})
    assert "| recipe | the recipe | 110 | 4/5 | 2.100 (2.000-2.200) | - |" in table
    assert "| rmsprop | RMSprop | 90 | 4 | 2.500 | +0.400 |" in table
    assert "| 2 x 256 | 100 | 150 (1.50x) | 90 (0.90x) |" in table
