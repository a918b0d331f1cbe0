"""Reading a trace file's JSON records in bounded memory, whatever its size.

Three shapes: JSON values one per line (JSONL, the common case), one JSON array of records
(claude-code-action's execution file, OpenHands trajectories), or one (pretty-printed) document.
Lines are read with a length cap and arrays element by element, so memory follows the largest
record, not the file. A file over the trace cap is not skipped: of JSONL the first and the last
parts are read (half the cap each, cut at line boundaries), of an array its first elements up to
the cap; a note on the ``Trace`` says what was left out. A whole document is parsed at once, so
it has its own, smaller cap. Unusable lines are counted with the number of the first one.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prompt_trainer.collect.traces._builder import TraceBuilder

#: Longest line (or array element) read; a longer one is skipped and counted as a bad line.
MAX_LINE_BYTES = 64 * 1024 * 1024
#: Largest file parsed as one whole JSON document (SWE-agent trajectories, pretty-printed JSON).
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
CHUNK = 1024 * 1024
SEPARATORS = re.compile(r"[\s,]*")


def json_records(path: Path, builder: TraceBuilder) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, a JSON array, or a single (pretty-printed) document.

    Lines that are not JSON (a truncated last line, log noise) are counted in
    ``builder.bad_lines`` and skipped; JSON values that are not objects are counted as unknown.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        if _first_byte(handle) == b"[":
            yield from _array(handle, builder, size=size)
            return
        handle.seek(0)
        cap = builder.max_bytes
        if size <= cap:
            yield from _lines(handle, builder, stop=None, document_size=size)
            return
        head = cap // 2
        whole = yield from _lines(handle, builder, stop=head, document_size=size)
        if whole:  # it was one pretty-printed document, read at once
            return
        read_to = handle.tell()
        if size - (cap - head) > read_to:  # the head's last line may already reach the tail
            handle.seek(size - (cap - head))
            handle.readline(MAX_LINE_BYTES)  # the line the tail starts inside of
        tail_from = handle.tell()
        builder.line_known = False
        builder.notes.append(
            f"trace is {size} bytes, over the {cap}-byte cap: read its first {read_to} and "
            f"last {size - tail_from} bytes, at line boundaries; the {tail_from - read_to} "
            "bytes between were not read"
        )
        yield from _lines(handle, builder, stop=None, document_size=size)


def load_document(path: Path) -> Any:
    """A whole JSON document (for formats written as one object, such as SWE-agent's)."""
    size = path.stat().st_size
    _check_document(size)
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        return json.load(handle)


def _check_document(size: int) -> None:
    if size > MAX_DOCUMENT_BYTES:
        raise ValueError(
            f"a single JSON document of {size} bytes is over the {MAX_DOCUMENT_BYTES}-byte cap "
            "for documents read whole (JSONL and JSON arrays stream at any size)"
        )


def _first_byte(handle: IO[bytes]) -> bytes:
    head = handle.read(4096).removeprefix(codecs.BOM_UTF8).lstrip()
    return head[:1]


def _lines(
    handle: IO[bytes], builder: TraceBuilder, *, stop: int | None, document_size: int
) -> Generator[dict[str, Any], None, bool]:
    """Records of JSONL from the handle's position, to ``stop`` bytes read (or the end).
    Returns True when the file turned out to be one pretty-printed document, read whole.

    The fast path decodes the line and calls ``raw_decode`` on it, which is ``json.loads``
    without its per-call encoding sniff and whitespace scans; anything unusual (leading
    whitespace, a BOM, invalid UTF-8, trailing data) falls back to the lenient reading."""
    decode = json.JSONDecoder().raw_decode
    readline = handle.readline
    consumed = 0
    while stop is None or consumed < stop:
        line = readline(MAX_LINE_BYTES)
        if not line:
            return False
        consumed += len(line)
        builder.line += 1
        if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
            consumed += _skip_rest_of_line(handle)
            builder.bad_line(f"longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            text = line.decode()
            value, end = decode(text)
            if end != len(text) and not text[end:].isspace():
                raise ValueError("extra data after the JSON value")
        except (ValueError, RecursionError):
            value = _lenient(line)
            if value is None:
                if builder.line == 1 and line.lstrip().startswith((b"{", codecs.BOM_UTF8)):
                    handle.seek(0)  # one pretty-printed document
                    yield from _document(handle, builder, size=document_size)
                    return True
                if line.strip():
                    builder.bad_line("not JSON")
                continue
        if type(value) is dict:
            yield value
        else:
            builder.unknown[f"non-object {type(value).__name__}"] += 1
    return False


def _lenient(line: bytes) -> Any:
    """A line with invalid UTF-8 (or a BOM) decoded with replacement characters, or None."""
    try:
        return json.loads(line.decode("utf-8", errors="replace").removeprefix("\ufeff"))
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's stack
        return None


def _skip_rest_of_line(handle: IO[bytes]) -> int:
    skipped = 0
    while chunk := handle.readline(CHUNK):
        skipped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return skipped


def _document(handle: IO[bytes], builder: TraceBuilder, *, size: int) -> Iterator[dict[str, Any]]:
    _check_document(size)
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace")
    yield from _objects([json.load(text)], builder)


def _objects(values: list[Any], builder: TraceBuilder) -> Iterator[dict[str, Any]]:
    for value in values:
        if isinstance(value, dict):
            yield value
        else:
            builder.unknown[f"non-object {type(value).__name__}"] += 1


def _array(handle: IO[bytes], builder: TraceBuilder, *, size: int) -> Iterator[dict[str, Any]]:
    """The elements of a top-level JSON array, decoded one at a time from a growing buffer
    (doubling on an incomplete element, so a large element costs linear time)."""
    handle.seek(0)
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace")
    decoder = json.JSONDecoder()
    builder.unit = "array element"
    buffer = text.read(CHUNK).lstrip()[1:]  # after the opening bracket
    position, consumed, index, eof = 0, 0, 0, False
    while True:
        position = SEPARATORS.match(buffer, position).end()  # type: ignore[union-attr]
        if position >= len(buffer):
            if eof:
                builder.notes.append("JSON array ends without its closing bracket")
                return
            consumed += position
            buffer, position = text.read(CHUNK), 0
            eof = not buffer
            continue
        if buffer[position] == "]":
            return
        try:
            value, end = decoder.raw_decode(buffer, position)
        except RecursionError:
            builder.line = index + 1
            builder.bad_line("nested too deeply; the rest of the array was not read")
            return
        except ValueError as exc:
            pending = len(buffer) - position
            if eof or pending > MAX_LINE_BYTES:
                why = (
                    f"over {MAX_LINE_BYTES} bytes"
                    if not eof
                    else f"not JSON ({getattr(exc, 'msg', exc)})"
                )
                builder.line = index + 1
                builder.bad_line(f"{why}; the rest of the array was not read")
                return
            more = text.read(max(CHUNK, pending))
            consumed += position
            buffer, position, eof = buffer[position:] + more, 0, not more
            continue
        index += 1
        builder.line = index
        if type(value) is dict:
            yield value
        else:
            builder.unknown[f"non-object {type(value).__name__}"] += 1
        position = end
        if consumed + position > builder.max_bytes:
            builder.notes.append(
                f"trace is {size} bytes, over the {builder.max_bytes}-byte cap: read its first "
                f"{index} array elements"
            )
            return
