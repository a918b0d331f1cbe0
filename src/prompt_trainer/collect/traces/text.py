"""Plain text or markdown transcripts: the fallback when no structured format matches.

The whole file becomes one step; there are no reliable totals in free text, so they stay unset.
"""

from __future__ import annotations

from pathlib import Path

from prompt_trainer.models import Trace, TraceStep
from prompt_trainer.redact import excerpt

BINARY_MARKERS = ("\x00",)


def sniff(head: str) -> bool:
    """Any text that is not binary."""
    return not any(marker in head for marker in BINARY_MARKERS)


def parse(path: Path, *, source: str, max_text: int) -> Trace:
    """One step holding the (redacted, capped) text."""
    text = path.read_text(encoding="utf-8", errors="replace")
    step = TraceStep(role="transcript", text=excerpt(text, max_text * 4))
    return Trace(source=source, format="text", steps=(step,))
