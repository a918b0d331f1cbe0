"""The bytes of an XML file -> an expat parser, whatever the encoding, in bounded time and memory.

Part of the collect stage, beneath ``collect.junit``: ``feed_file(path, make_parser)`` reads the
file in chunks, creates the parser (``make_parser(encoding)``) and feeds it. It returns the notes
that say what was cut; it raises ``Refused`` for a file it will not read, ``UnicodeDecodeError``
for bytes that are not in the declared encoding, and expat's own errors.

Encodings. Expat reads UTF-8, ISO-8859-1 and US-ASCII itself, and those go to it untouched (the
fast path: nearly every report is UTF-8). Any other encoding Python knows (UTF-16 and UTF-32,
Shift_JIS, EUC-JP, GBK, Big5, windows-1252...) is decoded here, incrementally, and handed to expat
as UTF-8 with the declaration overridden; pyexpat alone raises ``ValueError`` on multi-byte
encodings and misreads stateful ones. UTF-7 is refused: it spells ``<`` as ``+ADw-``, so markup can
hide from every reader that does not decode it. So are codecs that are not a character set
(``base64``, ``zlib``, ``rot13``, ``quopri``, ``unicode_escape``, ``idna``): Python's
``codecs.lookup`` knows them, and decoding with them ended in an internal error.

Long tokens. Expat 2.5 re-scans an unfinished token from its start each time more input arrives,
so one 99 MB attribute fed in 256 KiB chunks costs quadratic time (118 s measured). After each
chunk the parser's ``CurrentByteIndex`` says where the unfinished token starts; when it has grown
past ``MAX_TOKEN``, an attribute value (or a comment) is cut there: the bytes up to its closing
quote (or ``-->``) are skipped with ``bytes.find`` instead of being parsed, and a note says so.
Any other token that long (an element name, a processing instruction) is refused. Expat thus
never holds more than about ``MAX_TOKEN`` plus a chunk of one token.
"""

from __future__ import annotations

import codecs
import pyexpat
import re
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 256 * 1024
#: Longest unfinished token (an attribute value, a comment) before it is cut.
MAX_TOKEN = 1024 * 1024
HEAD = 1024
#: Python's names of the encodings expat decodes itself.
NATIVE = frozenset({"utf-8", "iso8859-1", "ascii"})
#: Codecs Python counts as text encodings that are no document's character set: escapes that
#: spell markup other readers do not see (``\x3c``), and transforms of names.
NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"})
BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\xfe\xff", "utf-16"),
    (b"\xff\xfe", "utf-16"),
)
#: The first characters ``<?`` in encodings that are not ASCII-compatible, without a BOM.
WIDE_STARTS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
DECLARED = re.compile(rb"<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._\-]*)[\"']")
#: An unfinished start tag whose last attribute value is still open: group 1 is its quote.
OPEN_VALUE = re.compile(
    rb"<[^\s/>!?]+(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s+([^\s=/>]+)\s*=\s*([\"'])"
    rb"[^\"']*\Z"
)


class Refused(Exception):
    """Well-formed so far, but not something we will read; the message says why."""


def feed_file(path: Path, make_parser: Callable[[str | None], pyexpat.XMLParserType]) -> list[str]:
    """Parse ``path`` with the parser ``make_parser`` returns for the encoding it is told (None:
    as the file declares; ``"utf-8"``: the bytes were transcoded). Returns what was cut."""
    with path.open("rb") as handle:
        head = handle.read(CHUNK)
        codec = _transcoding(head)
        parser = make_parser(None if codec is None else "utf-8")
        chunks = _read(handle, head)
        if codec is not None:
            chunks = _transcoded(chunks, codec)
        feeder = _Feeder(parser)
        for chunk in chunks:
            feeder.feed(chunk)
        parser.Parse(b"", True)
    return feeder.notes


def _read(handle: BinaryIO, head: bytes) -> Iterator[bytes]:
    chunk = head
    while chunk:
        yield chunk
        chunk = handle.read(CHUNK)


def _transcoding(head: bytes) -> str | None:
    """The Python codec to decode the file with, or None when expat reads it as it is."""
    for bom, codec in BOMS:
        if head.startswith(bom):
            return codec
    for start, codec in WIDE_STARTS:
        if head.startswith(start):
            return codec
    body = head.removeprefix(b"\xef\xbb\xbf")
    found = DECLARED.match(body[:HEAD])
    if found is None:
        return None
    declared = found.group(1).decode("ascii")
    try:
        info = codecs.lookup(declared)
    except LookupError:
        raise Refused(f"unknown encoding {declared!r} declared in the XML prolog") from None
    name = info.name
    if not info._is_text_encoding or name in NOT_CHARSETS:  # no public flag says it
        raise Refused(
            f"refused the encoding {declared!r} declared in the XML prolog: it is a transform "
            "(base64, zlib, rot13, escapes), not the character set of a document; write the "
            "report as UTF-8"
        )
    if name == "utf-7":
        raise Refused(
            "refused UTF-7 encoded XML (it can spell markup that other readers do not see); "
            "write the report as UTF-8"
        )
    if name.startswith(("utf-16", "utf-32")):
        raise Refused(f"the XML prolog declares {declared} but the file is not {declared}")
    if body is not head and name != "utf-8":
        raise Refused(f"the file starts with a UTF-8 byte order mark but declares {declared}")
    return None if name in NATIVE else name


def _transcoded(chunks: Iterator[bytes], codec: str) -> Iterator[bytes]:
    """``chunks`` decoded from ``codec`` and encoded as UTF-8; a bad byte names its offset."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    offset = 0
    for chunk in chunks:
        try:
            yield decoder.decode(chunk).encode("utf-8")
        except UnicodeDecodeError as exc:
            exc.start += offset
            exc.end += offset
            raise
        offset += len(chunk)
    yield decoder.decode(b"", final=True).encode("utf-8")


class _Feeder:
    """Feeds chunks to one parser, cutting any token that grows past ``MAX_TOKEN``."""

    def __init__(self, parser: pyexpat.XMLParserType) -> None:
        self.parser = parser
        self.notes: list[str] = []
        self.fed = 0
        #: The last chunks fed, with their offsets: enough to hold any unfinished token.
        self.recent: deque[tuple[int, bytes]] = deque()
        self.recent_bytes = 0
        #: While cutting: what ends the cut (a quote, ``-->``), what is cut, where it started.
        self.cut: tuple[bytes, str, int] | None = None
        self.carry = b""
        self.skipped = 0

    def feed(self, chunk: bytes) -> None:
        if self.cut is not None:
            chunk = self._skip(chunk, self.cut)
            if not chunk:
                return
        pending = self.fed - self.parser.CurrentByteIndex
        if pending > 2 * MAX_TOKEN:
            raise Refused(
                f"an XML tag over {2 * MAX_TOKEN // 1024} KiB at byte {self.fed - pending}"
            )
        if pending > 0 and pending + len(chunk) > MAX_TOKEN:
            chunk = self._cut(chunk, pending)
        if chunk:
            self._parse(chunk)

    def _parse(self, chunk: bytes) -> None:
        self.parser.Parse(chunk, False)
        self.recent.append((self.fed, chunk))
        self.fed += len(chunk)
        self.recent_bytes += len(chunk)
        while self.recent_bytes - len(self.recent[0][1]) > 2 * MAX_TOKEN + CHUNK:
            self.recent_bytes -= len(self.recent.popleft()[1])

    def _cut(self, chunk: bytes, pending: int) -> bytes:
        """Feed what fits of the unfinished token, then skip the rest of it (``_skip``)."""
        token = self._pending_bytes()
        value = OPEN_VALUE.match(token)
        if value is not None:
            name, end = value.group(1).decode("utf-8", "replace")[:100], value.group(2)
            what = f"the value of the attribute {name!r}"
        elif token.startswith(b"<!--") and b"-->" not in token:
            end, what = b"-->", "a comment"
        else:
            raise Refused(
                f"an XML token over {MAX_TOKEN // 1024} KiB at byte {self.fed - pending} "
                "(not an attribute value or a comment)"
            )
        closing = (token[-(len(end) - 1) :] + chunk).find(end) if len(end) > 1 else chunk.find(end)
        if closing >= 0 and pending + closing <= MAX_TOKEN + CHUNK:
            return chunk  # the token ends within the budget after all
        keep = _safe_cut(token, chunk, max(0, MAX_TOKEN - pending), comment=len(end) > 1)
        if keep:
            self._parse(chunk[:keep])
        self.cut, self.carry, self.skipped = (end, what, self.fed - pending - keep), b"", 0
        return self._skip(chunk[keep:], self.cut)

    def _skip(self, chunk: bytes, cut: tuple[bytes, str, int]) -> bytes:
        """Drop bytes up to the end of the token being cut; returns what follows, end included."""
        end, what, start = cut
        data = self.carry + chunk
        at = data.find(end)
        if at < 0:
            self.carry = data[len(data) - len(end) + 1 :] if len(end) > 1 else b""
            self.skipped += len(data) - len(self.carry)
            return b""
        self.skipped += at
        self.notes.append(
            f"{what} was cut: the token at byte {start} kept its first {self.fed - start:,} "
            f"bytes, {self.skipped:,} bytes were left out"
        )
        self.cut = None
        return data[at:]

    def _pending_bytes(self) -> bytes:
        start = self.parser.CurrentByteIndex
        return b"".join(
            data[max(0, start - offset) :]
            for offset, data in self.recent
            if offset + len(data) > start
        )


def _safe_cut(token: bytes, chunk: bytes, at: int, *, comment: bool) -> int:
    """A position at or after ``at`` in ``chunk`` where the token may end: not inside a UTF-8
    sequence or a character reference, and in a comment not after a ``-`` (``--->`` is no end)."""
    at = min(at, len(chunk))
    while at < len(chunk) and 0x80 <= chunk[at] < 0xC0:
        at += 1  # a UTF-8 continuation byte: finish the character
    tail = token[-64:] + chunk[:at]
    amp = tail.rfind(b"&")
    if amp >= 0 and b";" not in tail[amp:]:
        semicolon = chunk.find(b";", at)
        at = len(chunk) if semicolon < 0 else semicolon + 1
    while comment and at < len(chunk) and (chunk[at - 1 : at] or token[-1:]) == b"-":
        at += 1
    return at
