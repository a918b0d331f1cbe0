"""Plain text or markdown transcripts: the fallback when no structured format matches.

The text becomes one step (redacted and capped); free text has no reliable totals, so they
stay unset. Only the first ``4 * max_text`` characters are read, whatever the file's size.
"""

from __future__ import annotations

from pathlib import Path

from prompt_trainer.collect.traces._builder import Head, TraceBuilder
from prompt_trainer.models import Trace

NAME = "text"
BINARY_MARKERS = ("\x00",)


def sniff(head: Head) -> bool:
    """Any text that is not binary."""
    return not any(marker in head.text for marker in BINARY_MARKERS)


def parse(path: Path, *, source: str, builder: TraceBuilder) -> Trace:
    builder.max_text *= 4
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        builder.step("transcript", handle.read(builder.max_text + 1024))
    return builder.build(source=source)
