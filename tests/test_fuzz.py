"""Mutation fuzzing of the JUnit and trace parsers over the real files in ``../shared/realdata``.

Property: whatever bytes arrive, a parser returns a record or a ``Skipped`` with a reason; it
never raises, never expands an entity, never fetches anything. Mutations are seeded (so a
failure reproduces): truncation at a random point, flipped bytes, a duplicated or deleted span,
an injected DOCTYPE with entities, deep nesting, an oversized attribute, invalid UTF-8, and a
JSON line broken in the middle; traces are also read over a small cap (the first and last parts),
and artifact zips are mutated the same way (extraction returns files and reasons, never raises).
Every file gets each input-dependent kind once per round (``FUZZ_ROUNDS``, default 1; set it
higher for a longer search). Deep nesting ignores its input, so it is one case per depth
(``NEST_DEPTHS``, plus ``FUZZ_ROUNDS - 1`` seeded depths up to 20,000), not one per file.
"""

from __future__ import annotations

import io
import os
import random
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from prompt_trainer.collect.artifacts import ZipLimits, extract_zip
from prompt_trainer.collect.junit import parse_report
from prompt_trainer.collect.traces import parse_trace
from prompt_trainer.models import Skipped, TestRun, Trace
from tests.conftest import REALDATA

ROUNDS = int(os.environ.get("FUZZ_ROUNDS", "1"))
JUNIT = sorted((REALDATA / "junit").rglob("*.xml")) if REALDATA.exists() else []
TRACES = (
    sorted(p for p in (REALDATA / "traces").rglob("*") if p.is_file() and p.suffix != ".md")
    if REALDATA.exists()
    else []
)
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(max(1, len(out) // 200)):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _span(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return data * 2
    a, b = sorted(rng.sample(range(len(data)), 2))
    return data[:b] + data[a:b] + data[b:] if rng.random() < 0.5 else data[:a] + data[b:]


def _doctype(data: bytes, rng: random.Random) -> bytes:
    body = data.split(b"?>", 1)[-1]
    return BOMB + body.replace(b">", b">&lol2;", 1)


def nested(depth: int) -> bytes:
    return b"<testsuites>" + b"<testsuite>" * depth + b"</testsuite>" * depth + b"</testsuites>"


def _attribute(data: bytes, rng: random.Random) -> bytes:
    return data.replace(b'name="', b'name="' + b"A" * 2_000_000, 1)


def _utf8(data: bytes, rng: random.Random) -> bytes:
    cut = rng.randrange(len(data) + 1)
    return data[:cut] + b"\xff\xfe\xc3\x28" + data[cut:]


def _json_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    n = rng.randrange(len(lines))
    lines[n] = lines[n][: len(lines[n]) // 2]
    return b"\n".join(lines)


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    _truncate,
    _flip,
    _span,
    _doctype,
    _attribute,
    _utf8,
    _json_line,
]
#: Past Python's recursion limit; a longer search adds seeded depths up to 20,000.
NEST_DEPTHS = (1_001, 5_000, *random.Random("nest").sample(range(1_000, 20_000), ROUNDS - 1))


def mutants(path: Path) -> list[tuple[str, bytes]]:
    rng = random.Random(f"{path.name}:{path.stat().st_size}")
    data = path.read_bytes()[: 2 * 2**20]
    return [(f"{m.__name__}#{n}", m(data, rng)) for n in range(ROUNDS) for m in MUTATIONS]


def mutant_count() -> int:
    """How many mutated inputs the parsers get (``bench/reliability.py`` prints it)."""
    per_file = ROUNDS * len(MUTATIONS)
    return (len(JUNIT) + len(TRACES)) * per_file + 2 * len(NEST_DEPTHS)


@pytest.mark.skipif(not JUNIT, reason="../shared/realdata not present")
def test_junit_parser_survives_mutations(tmp_path: Path) -> None:
    tried = 0
    for path in JUNIT:
        for name, data in mutants(path):
            target = tmp_path / "m.xml"
            target.write_bytes(data)
            result = parse_report(
                target, source=f"{path.name}:{name}", max_bytes=2**24, max_text=500
            )
            assert isinstance(result, (TestRun, Skipped)), (path, name)
            if isinstance(result, Skipped):
                assert result.reason, (path, name)
            else:
                assert "lollol" not in " ".join(c.message for c in result.cases)
            tried += 1
    assert tried == len(JUNIT) * ROUNDS * len(MUTATIONS)


@pytest.mark.skipif(not TRACES, reason="../shared/realdata not present")
def test_trace_parsers_survive_mutations(tmp_path: Path) -> None:
    for path in TRACES:
        for name, data in mutants(path):
            target = tmp_path / f"m{path.suffix}"
            target.write_bytes(data)
            result = parse_trace(
                target, source=f"{path.name}:{name}", max_bytes=2**24, max_text=500
            )
            assert isinstance(result, (Trace, Skipped)), (path, name)
            if isinstance(result, Trace):
                assert result.steps_total >= len(result.steps) >= 0


@pytest.mark.parametrize("depth", NEST_DEPTHS)
def test_deep_nesting_is_a_record_or_a_skip_for_both_parsers(tmp_path: Path, depth: int) -> None:
    target = tmp_path / "deep.xml"
    target.write_bytes(nested(depth))
    report = parse_report(target, source="deep.xml", max_bytes=2**24, max_text=500)
    assert isinstance(report, TestRun) and report.cases == ()
    trace = parse_trace(target, source="deep.xml", max_bytes=2**24, max_text=500)
    assert isinstance(trace, (Trace, Skipped))


def test_a_deeply_nested_report_costs_memory_in_proportion_to_its_size(tmp_path: Path) -> None:
    target = tmp_path / "deep.xml"
    target.write_bytes(nested(4_000))  # 92 KB
    tracemalloc.start()
    try:
        parse_report(target, source="deep.xml", max_bytes=2**24, max_text=500)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (
        peak < 50 * target.stat().st_size
    )  # was ~45 MB (500 times the file) before paths were built once


@pytest.mark.skipif(not TRACES, reason="../shared/realdata not present")
def test_trace_parsers_survive_mutations_over_a_small_cap(tmp_path: Path) -> None:
    """The over-cap path (first and last parts, cut mid-file) under the same mutations."""
    for path in TRACES:
        for name, data in mutants(path)[:4]:
            target = tmp_path / f"m{path.suffix}"
            target.write_bytes(data)
            cap = max(1, len(data) // 3)
            result = parse_trace(target, source=f"{path.name}:{name}", max_bytes=cap)
            assert isinstance(result, (Trace, Skipped)), (path, name)
            if isinstance(result, Skipped):
                assert result.reason, (path, name)


def _archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for n, method in enumerate([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED] * 3):
            data = f"<testsuite name='s{n}'>" + "<testcase name='t'/>" * 50 + "</testsuite>"
            bundle.writestr(f"dir{n % 2}/r{n}.xml", data, compress_type=method)
    return buffer.getvalue()


def test_archive_extraction_survives_mutations(tmp_path: Path) -> None:
    """Whatever bytes an artifact zip holds, extraction returns files and reasons; it never
    raises (a bad CRC, a broken stream, a mangled header or directory)."""
    rng = random.Random("zip")
    data = _archive()
    limits = ZipLimits(max_total_bytes=1_000_000, max_files=50)
    members = data.find(b"PK\x01\x02")  # damage the members, keep the directory readable
    for n in range(ROUNDS * 4):
        if n % 2:
            mutated = [_truncate, _flip, _span][n % 3](data, rng)
        else:
            mutated = _flip(data[:members], rng) + data[members:]
        archive = tmp_path / f"m{n}.zip"
        archive.write_bytes(mutated)
        result = extract_zip(archive, tmp_path / f"out{n}", limits=limits, label="art")
        assert all(skip.reason for skip in result.skipped), n
        assert all(path.is_file() for path in result.files), n


def test_an_unknown_encoding_in_the_prolog_is_skipped(tmp_path: Path) -> None:
    """Found by the fuzzer: ``LookupError`` escaped the parser."""
    path = tmp_path / "r.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="UTFr8"?><testsuite/>')
    result = parse_report(path, source="r.xml", max_bytes=2**20)
    assert isinstance(result, Skipped) and "unknown encoding 'UTFr8'" in result.reason
