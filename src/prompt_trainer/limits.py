"""Default caps on outside input, as plain numbers (no pydantic).

``settings.Limits`` takes its defaults from here, and ``inspect`` reads them without loading the
settings: the command that shows what the collectors make of one file starts in a few tens of
milliseconds (``bench/ingest.py`` times it against a bare expat pass).
"""

from __future__ import annotations

from typing import Final

MAX_ARTIFACT_BYTES: Final = 200 * 1024 * 1024
MAX_EXTRACTED_BYTES: Final = 500 * 1024 * 1024
MAX_EXTRACTED_FILES: Final = 10_000
MAX_REPORT_BYTES: Final = 100 * 1024 * 1024
MAX_TEXT_CHARS: Final = 2_000
MAX_TRACE_BYTES: Final = 2 * 1024**3
