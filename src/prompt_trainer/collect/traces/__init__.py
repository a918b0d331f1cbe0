"""Agent traces -> ``Trace``: a registry of small format modules, recognized by content.

Each module offers ``NAME``, ``sniff(head: Head) -> bool`` (the first 64 KiB of the file,
decoded, with its first JSON value) and ``parse(path, *, source, builder) -> Trace``, folding
the records it reads (``json_records``) into the ``TraceBuilder`` it is handed. ``parse_trace``
asks them in order (most specific first, plain text last) and owns the builder, so a file that
cannot be used becomes ``Skipped`` with the position the reader had reached. A file over
``max_bytes`` is read in part (its first and last parts), with a note on the ``Trace``. Adding a
format is adding a module and a line here.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from prompt_trainer.collect.per_file import internal_error
from prompt_trainer.collect.traces import (
    claude,
    codex_exec,
    codex_rollout,
    openhands,
    otel,
    swe_agent,
    text,
)
from prompt_trainer.collect.traces._builder import Head, TraceBuilder
from prompt_trainer.models import Skipped, Trace

#: Format name -> module; order matters (most specific first, plain text last).
FORMATS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (claude, codex_rollout, codex_exec, openhands, otel, swe_agent, text)
}
HEAD_BYTES = 64 * 1024


#: What a format module may raise on input it did not expect; it becomes ``Skipped``. Format
#: modules walk JSON of unknown shape, so here a ``TypeError`` or ``KeyError`` is how a value of
#: the wrong shape shows; the reason names it and the line of the file.
UNREADABLE = (OSError, ValueError, RecursionError, TypeError, AttributeError, KeyError, IndexError)


def parse_trace(
    path: Path, *, source: str, max_bytes: int, max_text: int = 2_000
) -> Trace | Skipped:
    """Recognize the file's format by content and parse it; problems become ``Skipped``, and so
    does a bug this file reaches (``collect/per_file.py``)."""
    try:
        return _parse(path, source=source, max_bytes=max_bytes, max_text=max_text)
    except Exception as exc:  # the per-file boundary (collect/per_file.py)
        return internal_error(source, exc, what="trace")


def _parse(path: Path, *, source: str, max_bytes: int, max_text: int) -> Trace | Skipped:
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            raw = handle.read(HEAD_BYTES)
    except OSError as exc:
        return Skipped(source=source, reason=f"cannot read trace: {exc.strerror or exc}")
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    if not text.strip():
        return Skipped(source=source, reason="empty trace file")
    head = Head.of(text, complete=size <= HEAD_BYTES)
    for name, module in FORMATS.items():
        if module.sniff(head):
            builder = TraceBuilder(format=name, max_text=max_text, max_bytes=max_bytes)
            try:
                trace: Trace = module.parse(path, source=source, builder=builder)
            except UNREADABLE as exc:
                where = f" at {builder.position()}" if builder.line else ""
                reason = f"unreadable {name} trace{where}: {type(exc).__name__}: {exc}"
                return Skipped(source=source, reason=reason)
            return trace
    return Skipped(source=source, reason="not a recognized trace format (binary content)")
