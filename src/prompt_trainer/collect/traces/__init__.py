"""Agent traces -> ``Trace``: a registry of small format modules, recognized by content.

Each module offers ``sniff(head: str) -> bool`` (the first 64 KiB of the file, decoded) and
``parse(path, *, source, max_text) -> Trace``. ``parse_trace`` tries them in order and falls back
to plain text; anything unreadable becomes ``Skipped``. Adding a format is adding a module.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from prompt_trainer.collect.traces import claude, text
from prompt_trainer.models import Skipped, Trace

#: Format name -> module; order matters (most specific first, plain text last).
FORMATS: dict[str, ModuleType] = {"claude-code": claude, "text": text}
HEAD_BYTES = 64 * 1024


def parse_trace(
    path: Path, *, source: str, max_bytes: int, max_text: int = 2_000
) -> Trace | Skipped:
    """Recognize the file's format by content and parse it; problems become ``Skipped``."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError as exc:
        return Skipped(source=source, reason=f"cannot read trace: {exc.strerror}")
    if size > max_bytes:
        return Skipped(source=source, reason=f"trace is {size} bytes, over the {max_bytes} cap")
    if not head.strip():
        return Skipped(source=source, reason="empty trace file")
    for module in FORMATS.values():
        if module.sniff(head):
            try:
                trace: Trace = module.parse(path, source=source, max_text=max_text)
            except (OSError, ValueError) as exc:
                return Skipped(source=source, reason=f"unreadable {module.__name__} trace: {exc}")
            return trace
    return Skipped(source=source, reason="not a recognized trace format")
