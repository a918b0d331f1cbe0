"""Feeding XML to expat: every encoding a report may declare, and tokens too long to parse whole.

Issue 24: a report declaring Shift_JIS (or EUC-JP, GBK, Big5, UTF-7) raised a ``ValueError`` out
of the parser and ended a scheduled backfill with nothing stored; one 99 MB attribute took 118 s.
Nothing here measures time: the long-token tests check what was cut and how much expat was given.
"""

from __future__ import annotations

import codecs
import pyexpat
from pathlib import Path

import pytest

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.models import Skipped, TestRun

#: ``xmlfeed.MAX_TOKEN`` (imported only where needed, so that these tests run on older trees).
MAX_TOKEN = 1024 * 1024
NAMES = {"Shift_JIS": "テスト", "EUC-JP": "テスト", "GBK": "测试", "Big5": "測試"}


def report(encoding: str, name: str) -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        f'<testsuite name="s" tests="2"><testcase classname="c" name="{name}">'
        f'<failure message="{name} failed">{name}</failure></testcase>'
        '<testcase classname="c" name="ok"/></testsuite>'
    )


def parse(path: Path) -> TestRun | Skipped:
    return parse_report(path, source=path.name, max_bytes=10**9)


@pytest.mark.parametrize("encoding", sorted(NAMES))
def test_a_report_in_a_multi_byte_encoding_is_decoded_as_declared(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(report(encoding, NAMES[encoding]).encode(encoding))

    run = parse(path)

    assert isinstance(run, TestRun), run
    assert run.counts()["failed"] == 1 and run.tests == 2
    case = run.cases[0]
    assert (case.name, case.message, case.text) == (
        NAMES[encoding],
        f"{NAMES[encoding]} failed",
        NAMES[encoding],
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-le", "windows-1252"])
def test_utf_16_and_32_and_single_byte_encodings_are_decoded(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "r.xml"
    bom = codecs.BOM_UTF16_LE if encoding == "utf-16-le" else b""
    path.write_bytes(bom + report(encoding.upper(), "café").encode(encoding))

    run = parse(path)

    assert isinstance(run, TestRun), run
    assert run.cases[0].name == "café"


def test_a_stateful_encoding_is_decoded_not_misread_byte_by_byte(tmp_path: Path) -> None:
    """pyexpat alone maps ISO-2022-JP byte by byte: its escape sequences made the file
    malformed."""
    path = tmp_path / "r.xml"
    path.write_bytes(report("ISO-2022-JP", "テスト").encode("iso-2022-jp"))

    run = parse(path)

    assert isinstance(run, TestRun) and run.cases[0].name == "テスト"


def test_utf_7_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(report("UTF-7", "t").encode("utf-7"))

    result = parse(path)

    assert isinstance(result, Skipped)
    assert "refused UTF-7" in result.reason and "UTF-8" in result.reason


@pytest.mark.parametrize(
    "encoding", ["rot13", "base64", "zlib", "quopri", "bz2", "hex", "uu", "unicode_escape", "idna"]
)
def test_a_codec_that_is_no_character_set_is_refused_with_the_reason(
    tmp_path: Path, encoding: str
) -> None:
    """``codecs.lookup`` knows these too; read with them, a report ended in an internal error
    (or, with ``unicode_escape``, spelled markup as ``\\x3c``)."""
    path = tmp_path / "r.xml"
    path.write_bytes(report(encoding, "t").encode("utf-8"))

    result = parse(path)

    assert isinstance(result, Skipped)
    assert "is a transform" in result.reason and "write the report as UTF-8" in result.reason


def test_bytes_that_are_not_in_the_declared_encoding_name_their_offset(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(report("Shift_JIS", "QQ").encode("shift_jis").replace(b"QQ", b"\x81\x20", 1))

    result = parse(path)

    assert isinstance(result, Skipped)
    assert result.reason.startswith("not valid shift_jis: cannot decode byte(s) at offset ")


def test_a_declaration_that_contradicts_the_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(report("UTF-16", "t").encode("utf-8"))

    result = parse(path)

    assert isinstance(result, Skipped) and "declares UTF-16 but the file is not" in result.reason


def big_attribute(tmp_path: Path, size: int, *, quote: str = '"', filler: bytes = b"A") -> Path:
    path = tmp_path / "big.xml"
    with path.open("wb") as out:
        out.write(b'<testsuite name="s"><testcase classname="c" name="t" message=')
        out.write(quote.encode())
        out.write(filler * (size // len(filler)))
        out.write(quote.encode())
        out.write(b'><failure message="m">boom</failure></testcase>')
        out.write(b'<testcase classname="c" name="after"/></testsuite>')
    return path


def test_an_attribute_over_the_cap_is_cut_and_the_cut_is_noted(tmp_path: Path) -> None:
    run = parse(big_attribute(tmp_path, 4 * MAX_TOKEN))

    assert isinstance(run, TestRun), run
    assert run.tests == 2 and run.count("failed") == 1
    assert any(
        note.startswith("the value of the attribute 'message' was cut: the token at byte 20 kept")
        for note in run.notes
    ), run.notes


@pytest.mark.parametrize(
    ("quote", "filler"),
    [("'", "é".encode()), ('"', b"a&amp;"), ('"', "ab\u20ac".encode())],
)
def test_a_cut_never_splits_a_character_or_a_reference(
    tmp_path: Path, quote: str, filler: bytes
) -> None:
    run = parse(big_attribute(tmp_path, 3 * MAX_TOKEN, quote=quote, filler=filler))

    assert isinstance(run, TestRun), run
    assert run.tests == 2 and any("was cut" in note for note in run.notes)


def test_expat_is_never_given_more_of_one_token_than_the_cap_and_a_chunk(tmp_path: Path) -> None:
    """The bound that makes the parse linear: what expat re-scans per chunk stays below
    ``MAX_TOKEN + CHUNK``, however long the attribute (here 24 MiB)."""
    from prompt_trainer.collect.xmlfeed import CHUNK, feed_file  # noqa: PLC0415

    path = big_attribute(tmp_path, 24 * MAX_TOKEN)
    fed: list[int] = []

    def make_parser(encoding: str | None) -> pyexpat.XMLParserType:
        parser = pyexpat.ParserCreate(encoding)
        real = parser.Parse

        class Counting:
            def __getattr__(self, name: str) -> object:
                return getattr(parser, name)

            def Parse(self, data: bytes, final: bool = False) -> int:
                fed.append(len(data))
                return real(data, final)

        return Counting()  # type: ignore[return-value]

    notes = feed_file(path, make_parser)

    assert sum(fed) < 2 * MAX_TOKEN + CHUNK  # 24 MiB in the file, about 1 MiB parsed
    assert len(notes) == 1 and "bytes were left out" in notes[0]


def test_a_long_comment_is_cut_too(tmp_path: Path) -> None:
    path = tmp_path / "c.xml"
    path.write_bytes(
        b'<testsuite name="s"><!--'
        + b"x-" * (2 * MAX_TOKEN)
        + b'--><testcase name="t"/></testsuite>'
    )

    run = parse(path)

    assert isinstance(run, TestRun) and run.tests == 1
    assert any(note.startswith("a comment was cut: the token at byte 20") for note in run.notes)


def test_any_other_token_that_long_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.xml"
    path.write_bytes(b"<testsuite><" + b"n" * (2 * MAX_TOKEN) + b"/></testsuite>")

    result = parse(path)

    assert isinstance(result, Skipped) and "an XML token over 1024 KiB" in result.reason
