"""The collect stage's per-file error boundary: whatever one file raises becomes its ``Skipped``.

Every reader of outside files (``collect.junit.parse_report``, ``collect.traces.parse_trace``,
``collect.artifacts.extract_zip``, ``collect.evidence.load_reviews``,
``collect.local.read_pull_info``) returns a record or a ``Skipped``, never raises: one hostile or
odd file must not stop a backfill that has other PRs to store.

Where the line is drawn. Errors the input can cause through the libraries a reader calls are
expected, and each reader turns them into a plain reason that says what is wrong with the file:
``OSError`` (reading), ``ValueError`` and its kin ``UnicodeError`` and pydantic's
``ValidationError`` (a bad byte, number or value), expat's ``ExpatError``, the archive and
decompression errors, ``EOFError``, ``RecursionError`` (nesting). Anything else (``TypeError``,
``AttributeError``, ``KeyError``, ``IndexError``...) means our code did something it should not
have on this input: a bug. The file is still skipped, so the run goes on, but not silently: the
reason says "internal error", names the exception and the line of our code that raised it and
asks for a report, and the traceback is logged at ERROR level (the job log shows it). The tests
fail on any such log (``tests/conftest.py``). ``MemoryError`` and exceptions that are not an
``Exception`` (``KeyboardInterrupt``, ``SystemExit``) are never caught. The one place that treats
``TypeError``/``KeyError`` as input errors is the trace format modules, which walk JSON of
unknown shape (``collect.traces.UNREADABLE``).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from prompt_trainer.models import Skipped

logger = logging.getLogger(__name__)


def internal_error(source: str, exc: Exception, *, what: str) -> Skipped:
    """``source`` skipped because reading it hit a bug; the traceback goes to the log."""
    if isinstance(exc, MemoryError):
        raise exc
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    logger.error("internal error while reading %s", source, exc_info=exc)
    reason = (
        f"internal error while reading this {what} ({type(exc).__name__}: {exc}{where}); "
        "this is a prompt-trainer bug: please report it with the file"
    )
    return Skipped(source=source, reason=reason)
