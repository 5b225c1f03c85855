"""Tests of shared.engine.data.corpus and shared.engine.data.builtin: reading, cleaning, transforms,
vocabulary, statistics and the built-in Python corpus. Real files, no mocks."""

import ast
import hashlib
import json
import re

import numpy as np
import pytest
from anyascii import anyascii
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.engine.data import corpus
from shared.engine.data.assembly import build_from_folder, builtin_python_corpus
from shared.engine.data.builtin import stdlib_python_files, stdlib_root, strip_docstrings_and_comments
from shared.engine.data.corpus import (
    CorpusError,
    Vocabulary,
    apply_transforms,
    check_trainable,
    clean,
    decode_bytes,
    prepare,
    read_text,
    undo_transforms,
)
from shared.engine.data.stats import CorpusStats, CorpusStatsBuilder, corpus_stats

PRINTABLE = re.compile(r"[\x20-\x7e\n\t]*")

INDENTED_PYTHON = (
    "class A:\n"
    "    def f(self, x):\n"
    "        if x:\n"
    "            s = '    '\n"
    "              # six spaces\n"
    "        return x    # trailing spaces\n"
    "\n"
    "  two = 2\n"
)


def is_printable_ascii(text: str) -> bool:
    return PRINTABLE.fullmatch(text) is not None


# --- reading ------------------------------------------------------------------------------------


def test_read_text_reads_utf8(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes("héllo\n".encode())
    assert read_text(path) == "héllo\n"
    assert read_text(str(path)) == "héllo\n"


def test_invalid_utf8_reports_exact_byte_offset(tmp_path):
    path = tmp_path / "corpus.txt"
    data = b"a" * 1234 + b"\xff" + b"rest"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=r"corpus\.txt: invalid UTF-8 at byte 1234$"):
        read_text(path)


def test_invalid_utf8_offset_counts_bytes_not_characters():
    data = "éé".encode() + b"\xc3("  # 4 valid bytes, then a broken 2-byte sequence
    with pytest.raises(CorpusError, match="upload.txt: invalid UTF-8 at byte 4"):
        decode_bytes(data, "upload.txt", "strict")


def test_replace_mode_substitutes_and_clean_drops(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"ab\xffcd\xfe\n")
    text = read_text(path, errors="replace")
    assert text == "ab\ufffdcd\ufffd\n"
    assert clean(text) == "abcd\n"


def test_nul_bytes_are_rejected_as_binary(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04\x00\x00abc")
    for mode in ("strict", "replace"):
        with pytest.raises(CorpusError, match="binary"):
            read_text(path, errors=mode)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="nope.txt: no such file"):
        read_text(tmp_path / "nope.txt")


def test_bad_errors_mode_is_rejected():
    with pytest.raises(ValueError):
        decode_bytes(b"x", "x", errors="ignore")


def test_byte_order_mark_is_removed():
    assert decode_bytes(b"\xef\xbb\xbfabc", "bom.txt") == "abc"


def test_corpus_error_is_a_value_error():
    assert issubclass(CorpusError, ValueError)


# --- cleaning -----------------------------------------------------------------------------------


def test_clean_transliterates_accents_and_quotes():
    assert clean("café") == "cafe"
    assert clean("\u201cx\u201d") == '"x"'
    assert clean("it\u2019s") == "it's"
    assert clean("a\u2014b") == "a-b"


def test_clean_output_is_printable_ascii_only():
    text = "∑ x² — 中文 😀 naïve\u200b \x00\x07\x0c\x1b[0m\u00a0end\tok\n"
    cleaned = clean(text)
    assert is_printable_ascii(cleaned)
    assert "naive" in cleaned and "end" in cleaned and "\tok\n" in cleaned
    assert clean("∑") and is_printable_ascii(clean("∑"))


def test_clean_normalises_newlines():
    assert clean("a\r\nb\rc\nd") == "a\nb\nc\nd"
    assert clean("\r\n\r\n") == "\n\n"


def test_clean_keeps_printable_ascii_unchanged():
    text = "".join(chr(c) for c in range(0x20, 0x7F)) + "\n\t"
    assert clean(text) == text


NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
KEPT = {chr(c) for c in range(0x20, 0x7F)} | {"\n", "\t"}


def reference_clean(text: str) -> str:
    """The definition of `clean`, the slow way: newlines, U+FFFD, look-alikes, control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffd", "")
    text = NON_ASCII_RUN.sub(lambda match: anyascii(match.group()), text)
    return "".join(c for c in text if c in KEPT)


ANY_CHAR = st.characters(exclude_categories=["Cs"])  # every code point but lone surrogates
NON_ASCII = st.characters(min_codepoint=0x80, exclude_categories=["Cs"])
SPECIAL = st.sampled_from(
    ["\r", "\n", "\r\n", "\t", "\x00", "\x07", "\x7f", "\ufffd", "\ufeff", "\u200b", "é", "中", "😀"]
)


@st.composite
def mostly_ascii(draw):
    """ASCII text with a few non-ASCII characters spliced in (the sparse path of `clean`)."""
    chars = list(draw(st.text(st.characters(max_codepoint=0x7F), min_size=0, max_size=600)))
    for char in draw(st.lists(st.one_of(NON_ASCII, SPECIAL), max_size=4)):
        chars.insert(draw(st.integers(0, len(chars))), char)
    return "".join(chars)


TEXTS = st.one_of(mostly_ascii(), st.lists(st.one_of(ANY_CHAR, SPECIAL), max_size=200).map("".join))


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.integers(1, 50))
def test_clean_is_its_definition(text, block):
    from unittest import mock

    assert clean(text) == reference_clean(text)
    with mock.patch.object(corpus, "_BLOCK", block):  # texts cut into blocks give the same
        assert clean(text) == reference_clean(text)


def test_clean_takes_both_transliteration_paths():
    sparse = "x = 1\n" * 200 + "caf\u00e9 \u201cq\u201d\r\n"
    dense = "\u00e9\u4e2d\ufffd\U0001f600a\u00df" * 50
    assert clean(sparse) == reference_clean(sparse) and clean(sparse).endswith('cafe "q"\n')
    assert clean(dense) == reference_clean(dense) and "ss" in clean(dense)


# --- transforms ---------------------------------------------------------------------------------


def test_tabs_round_trip_on_indented_python():
    with_tabs = apply_transforms(INDENTED_PYTHON, lowercase=False, tabs=True)
    assert undo_transforms(with_tabs, tabs=True) == INDENTED_PYTHON
    lines = with_tabs.split("\n")
    assert lines[1] == "\tdef f(self, x):"
    assert lines[3] == "\t\t\ts = '    '"  # inner spaces kept
    assert lines[4] == "\t\t\t  # six spaces"  # remainder spaces after the tabs
    assert lines[5] == "\t\treturn x    # trailing spaces"
    assert lines[7] == "  two = 2"


def test_tabs_only_change_leading_spaces():
    text = "x = '    '\n    y = 1    + 2\n"
    with_tabs = apply_transforms(text, lowercase=False, tabs=True)
    assert with_tabs == "x = '    '\n\ty = 1    + 2\n"
    assert with_tabs.replace("\t", "    ") == text


def test_no_transforms_is_identity():
    assert apply_transforms(INDENTED_PYTHON, lowercase=False, tabs=False) == INDENTED_PYTHON
    assert undo_transforms(INDENTED_PYTHON, tabs=False) == INDENTED_PYTHON


def test_lowercase():
    assert apply_transforms("Hello World\n    X", lowercase=True, tabs=False) == "hello world\n    x"
    assert apply_transforms("    If X:", lowercase=True, tabs=True) == "\tif x:"


# --- vocabulary ---------------------------------------------------------------------------------


def test_vocabulary_round_trip_and_dtype():
    text = "hello world\n\tfoo(bar)"
    vocab = Vocabulary.from_text(text)
    assert vocab.chars == "".join(sorted(set(text)))
    assert len(vocab) == len(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.uint8
    assert ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.decode(ids.tolist()) == text
    assert vocab.decode(ids.astype(np.int64)) == text
    assert vocab.decode([]) == ""
    assert vocab.chars[ids[0]] == "h"


def test_vocabulary_unknown_character():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(CorpusError, match="'z'"):
        vocab.encode("abz")
    with pytest.raises(CorpusError, match="U\\+00E9"):
        vocab.encode("aé")
    assert vocab.decode(vocab.encode("azbzc", skip_unknown=True)) == "abc"
    assert vocab.decode(vocab.encode("aébéc", skip_unknown=True)) == "abc"


def test_vocabulary_decode_rejects_ids_out_of_range():
    vocab = Vocabulary("ab")
    with pytest.raises(CorpusError):
        vocab.decode([0, 2])
    with pytest.raises(CorpusError):
        vocab.decode([-1])


def test_vocabulary_keeps_given_order():
    vocab = Vocabulary("cab")
    assert list(vocab.encode("abc")) == [1, 2, 0]
    assert vocab.decode([0, 1, 2]) == "cab"


def test_vocabulary_rejects_duplicates():
    with pytest.raises(CorpusError):
        Vocabulary("aba")


def test_vocabulary_json_round_trip():
    vocab = Vocabulary.from_text(clean(INDENTED_PYTHON) + '"\\')
    data = json.loads(json.dumps(vocab.to_json()))
    assert isinstance(data, list) and all(isinstance(c, str) for c in data)
    restored = Vocabulary.from_json(data)
    assert restored == vocab
    assert restored.chars == vocab.chars
    with pytest.raises(CorpusError):
        Vocabulary.from_json([1, 2])
    with pytest.raises(CorpusError):
        Vocabulary.from_json(["ab"])


def test_wide_vocabulary_uses_int32():
    chars = "".join(chr(c) for c in range(0x100, 0x100 + 300))
    vocab = Vocabulary(chars)
    text = chars[::-1] + chars[5:50]
    ids = vocab.encode(text)
    assert ids.dtype == np.int32
    assert vocab.decode(ids) == text
    with pytest.raises(CorpusError):
        vocab.encode("a")


def test_non_ascii_vocabulary_round_trip():
    text = "naïve café ∑ 中"
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    assert ids.dtype == np.uint8
    assert vocab.decode(ids) == text


def test_encode_20_megabytes():
    block = clean(INDENTED_PYTHON) + "".join(chr(c) for c in range(0x20, 0x7F)) + "\n"
    text = block * (20_000_000 // len(block) + 1)
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    assert len(ids) == len(text)
    assert vocab.decode(ids[:1000]) == text[:1000]


# --- stats and prepare --------------------------------------------------------------------------


def test_corpus_stats_counts_unique_characters_before_and_after():
    raw = "Café “quoted” — 中文\r\nplain text\n"
    stats = corpus_stats(raw)
    assert isinstance(stats, CorpusStats)
    assert stats.raw_chars == len(raw)
    assert stats.raw_unique == len(set(raw))
    assert stats.raw_unique > stats.clean_unique
    assert stats.bytes == len(raw.encode("utf-8"))
    assert stats.clean_unique == len(stats.vocabulary)
    assert stats.vocabulary == "".join(sorted(set(clean(raw))))
    assert f"unique characters: {stats.raw_unique} -> {stats.clean_unique}" in stats.format()
    assert json.loads(json.dumps(stats.to_dict()))["clean_chars"] == stats.clean_chars


def test_corpus_stats_with_transforms_and_raw_bytes():
    raw = "ABC abc\n    x\n"
    stats = corpus_stats(raw, lowercase=True, tabs=True, raw_bytes=999)
    assert stats.bytes == 999
    assert "A" not in stats.vocabulary and "\t" in stats.vocabulary
    assert stats.clean_chars == len("abc abc\n\tx\n")


def test_prepare_returns_ids_and_vocabulary():
    ids, vocab = prepare("Hello, World\r\n    ok", lowercase=True, tabs=True)
    assert vocab.decode(ids) == "hello, world\n\tok"
    assert ids.dtype == np.uint8


def test_prepare_rejects_empty_corpus():
    for raw in ("", "\u200b\x00\x01\ufffd", "\x07"):
        with pytest.raises(CorpusError, match="corpus is empty after cleaning"):
            prepare(raw)


def test_prepare_rejects_one_distinct_character():
    with pytest.raises(CorpusError, match="distinct"):
        prepare("aaaa")
    with pytest.raises(CorpusError, match="distinct"):
        prepare("AAaa", lowercase=True)


def test_check_trainable():
    check_trainable(2, 2)
    with pytest.raises(CorpusError, match="^corpus is empty after cleaning$"):
        check_trainable(0, 0)
    with pytest.raises(CorpusError, match="^corpus has only 1 distinct character after cleaning; 2 are needed$"):
        check_trainable(5, 1)


# --- statistics of a stream ---------------------------------------------------------------------


def reference_stats(data: bytes, name: str = "upload.txt") -> CorpusStats | str:
    """What the builder must give: the whole-text functions (or the CorpusError they raise)."""
    try:
        stats = corpus_stats(decode_bytes(data, name), raw_bytes=len(data))
        check_trainable(stats.clean_chars, stats.clean_unique)
        return stats
    except CorpusError as exc:
        return str(exc)


def built_stats(chunks, name: str = "upload.txt") -> tuple[CorpusStats | str, CorpusStatsBuilder]:
    builder = CorpusStatsBuilder(name)
    try:
        for chunk in chunks:
            builder.feed(chunk)
        return builder.finish(), builder
    except CorpusError as exc:
        return str(exc), builder


def cut(data: bytes, cuts) -> list[bytes]:
    edges = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


BROKEN = st.sampled_from([b"\xff", b"\xc3", b"\xe0\x80", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\x80", b"\x00"])


@st.composite
def uploads(draw):
    """Text as UTF-8, now and then a byte order mark in front or a broken or NUL byte inside."""
    data = draw(TEXTS).encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(BROKEN) + data[at:]
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=8))
    return data, cuts


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uploads())
def test_builder_equals_the_whole_text_functions(upload):
    data, cuts = upload
    got, builder = built_stats(cut(data, cuts))
    assert got == reference_stats(data)
    if "NUL" not in str(got):  # NUL bytes stop the feeding at once
        assert builder.bytes == len(data) and builder.sha256 == hashlib.sha256(data).hexdigest()


def test_builder_on_chunk_boundaries():
    text = "\ufeffa\r\nb\u00e9\u4e2d\U0001f600\r\n\rc\r"
    data = text.encode("utf-8")
    expected = reference_stats(data)
    assert isinstance(expected, CorpusStats) and expected.clean_chars == len("a\nbeZhong:grinning:\n\nc\n")
    assert built_stats([data[i : i + 1] for i in range(len(data))])[0] == expected  # one byte at a time
    crlf = data.index(b"\r\n")
    assert built_stats([data[: crlf + 1], data[crlf + 1 :]])[0] == expected  # "\r" | "\n"
    assert built_stats([data[:2], b"", data[2:]])[0] == expected  # inside the byte order mark


def test_builder_errors_name_the_absolute_offset_and_nul_bytes_win():
    assert built_stats([b"a" * 1000, b"b" * 24, b"ok\xff"])[0] == "upload.txt: invalid UTF-8 at byte 1026"
    assert built_stats([b"ab\xc3", b"(cd"])[0] == "upload.txt: invalid UTF-8 at byte 2"  # split sequence
    assert built_stats([b"ab", b"\xe4\xb8"])[0] == "upload.txt: invalid UTF-8 at byte 2"  # cut at the end
    builder = CorpusStatsBuilder("upload.txt")
    builder.feed(b"a\xff")  # remembered: a later NUL byte would win
    with pytest.raises(CorpusError, match="contains NUL bytes"):
        builder.feed(b"b\x00")
    with pytest.raises(CorpusError, match="contains NUL bytes"):
        builder.finish()
    assert built_stats([b""])[0] == "corpus is empty after cleaning"
    assert built_stats([b"\xef\xbb\xbfaaa"])[0] == "corpus has only 1 distinct character after cleaning; 2 are needed"


def test_builder_on_a_large_ascii_upload():
    data = builtin_python_corpus(max_chars=300_000).encode("utf-8")
    stats, builder = built_stats(data[i : i + 65536] for i in range(0, len(data), 65536))
    assert stats == reference_stats(data) and builder.sha256 == hashlib.sha256(data).hexdigest()


# --- building corpora ---------------------------------------------------------------------------


def make_tree(root):
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "b.py").write_text("b = 2\n")
    (root / "a.py").write_text("a = 1  # one\n")
    (root / "notes.txt").write_text("not python\n")
    (root / "pkg" / "c.py").write_text('"""Doc."""\nc = 3\n')
    (root / "pkg" / "sub" / "d.py").write_bytes(b"d = '\xff'\n")
    (root / "pkg" / "blob.py").write_bytes(b"\x00\x01binary")


def test_build_from_folder_with_glob(tmp_path):
    make_tree(tmp_path)
    text = build_from_folder(tmp_path)
    assert text == "a = 1  # one\n\nb = 2\n\n" + '"""Doc."""\nc = 3\n\n' + "d = '\ufffd'\n\n"
    assert build_from_folder(tmp_path) == text
    assert build_from_folder(tmp_path, "*.txt") == "not python\n\n"
    assert build_from_folder(tmp_path, "pkg/*.py") == '"""Doc."""\nc = 3\n\n'


def test_build_from_folder_options(tmp_path):
    make_tree(tmp_path)
    stripped = build_from_folder(tmp_path, strip_docs=True)
    assert "#" not in stripped and "Doc" not in stripped and "c = 3" in stripped
    assert build_from_folder(tmp_path, max_chars=10) == "a = 1  # o"
    with pytest.raises(CorpusError, match="invalid UTF-8"):
        build_from_folder(tmp_path, errors="strict")


def test_build_from_folder_errors(tmp_path):
    with pytest.raises(CorpusError, match="no such folder"):
        build_from_folder(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(CorpusError, match="no files match"):
        build_from_folder(tmp_path, "**/*.py")


def test_builtin_python_corpus_is_deterministic_python():
    text = builtin_python_corpus(max_chars=200_000)
    assert len(text) == 200_000
    assert "def " in text and "import " in text
    assert builtin_python_corpus(max_chars=200_000) == text


def test_builtin_python_files_exclude_tests_and_packages():
    root = stdlib_root()
    files = stdlib_python_files()
    assert len(files) > 100
    assert files == stdlib_python_files()
    excluded = {"site-packages", "test", "tests", "idlelib", "__pycache__"}
    for path in files:
        assert path.suffix == ".py"
        assert not excluded & set(path.relative_to(root).parts[:-1]), path
    assert root / "os.py" in files


def test_builtin_corpus_strip_docs_has_fewer_comments():
    plain = builtin_python_corpus(max_chars=100_000)
    stripped = builtin_python_corpus(max_chars=100_000, strip_docs=True)
    assert len(stripped) == 100_000
    assert stripped.count("#") < plain.count("#")
    assert stripped.count('"""') < plain.count('"""')


# --- stripping docstrings and comments ----------------------------------------------------------

STDLIB_SAMPLES = ["os.py", "argparse.py", "json/decoder.py", "collections/__init__.py", "textwrap.py"]


@pytest.mark.parametrize("name", STDLIB_SAMPLES)
def test_strip_docs_on_stdlib_files_still_parses(name):
    source = (stdlib_root() / name).read_text(encoding="utf-8")
    stripped = strip_docstrings_and_comments(source)
    ast.parse(stripped)
    assert stripped.count("#") < source.count("#")
    assert len(stripped) < len(source)
    assert ast.get_docstring(ast.parse(stripped)) is None


def test_strip_docs_examples():
    source = (
        "#!/usr/bin/env python\n"
        '"""Module doc."""\n'
        "import os  # trailing\n"
        "\n"
        "class A:\n"
        '    """Only a docstring."""\n'
        "\n"
        "class B:\n"
        '    """Doc."""\n'
        '    "another string statement"\n'
        "\n"
        "def f(x):  # comment\n"
        '    """Doc\n'
        "    # not a comment, part of the docstring\n"
        '    """\n'
        '    s = "# a string, not a comment"\n'
        '    return "".join(x)\n'
        "\n"
        'def g(): "one line"\n'
        'y: "int" = 1\n'
    )
    expected = (
        "import os\n"
        "\n"
        "class A:\n"
        "    pass\n"
        "\n"
        "class B:\n"
        "    pass\n"
        "\n"
        "def f(x):\n"
        '    s = "# a string, not a comment"\n'
        '    return "".join(x)\n'
        "\n"
        "def g(): pass\n"
        'y: "int" = 1\n'
    )
    assert strip_docstrings_and_comments(source) == expected


def test_strip_docs_keeps_invalid_source_unchanged():
    for source in ("def f(:\n    pass\n", "x = '''unterminated\n", "  indented = 1\n"):
        assert strip_docstrings_and_comments(source) == source


def test_module_exports():
    for name in corpus.__all__:
        assert hasattr(corpus, name)
