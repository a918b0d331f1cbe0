"""Agent traces -> ``Trace``: a registry of small format modules, recognized by content.

Each module offers ``NAME``, ``sniff(head: Head) -> bool`` (the first 64 KiB of the file,
decoded, with its first JSON value) and ``parse(path, *, source, max_text) -> Trace``.
``parse_trace`` asks them in order (most specific first, plain text last); anything unreadable
becomes ``Skipped``. Adding a format is adding a module and a line here.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from prompt_trainer.collect.traces import (
    claude,
    codex_exec,
    codex_rollout,
    openhands,
    otel,
    swe_agent,
    text,
)
from prompt_trainer.collect.traces._builder import Head
from prompt_trainer.models import Skipped, Trace

#: Format name -> module; order matters (most specific first, plain text last).
FORMATS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (claude, codex_rollout, codex_exec, openhands, otel, swe_agent, text)
}
HEAD_BYTES = 64 * 1024


def parse_trace(
    path: Path, *, source: str, max_bytes: int, max_text: int = 2_000
) -> Trace | Skipped:
    """Recognize the file's format by content and parse it; problems become ``Skipped``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Skipped(source=source, reason=f"trace is {size} bytes, over the {max_bytes} cap")
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
            try:
                trace: Trace = module.parse(path, source=source, max_text=max_text)
            except (OSError, ValueError, RecursionError) as exc:
                return Skipped(source=source, reason=f"unreadable {name} trace: {exc}")
            return trace
    return Skipped(source=source, reason="not a recognized trace format (binary content)")
