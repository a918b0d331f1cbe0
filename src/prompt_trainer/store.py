"""Store stage: the JSONL ledger of samples under ``.prompt-trainer/``.

One JSON object per line, one line per sample id. Writing the same PR again replaces its line
(never duplicates it); the file is rewritten through a temporary file and an atomic rename, so an
interrupted run leaves the previous ledger intact. Lines that no longer validate (e.g. written by
a newer version) are kept verbatim and reported, never dropped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from prompt_trainer.models import Sample

DEFAULT_STORE = Path(".prompt-trainer") / "samples.jsonl"


@dataclass(frozen=True)
class UpsertResult:
    added: int
    replaced: int
    total: int


class SampleStore:
    """A JSONL file of samples keyed by ``Sample.id``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[Sample]:
        """Every sample that validates, in file order."""
        return [s for s in (self._parse(line) for line in self._lines()) if s is not None]

    def upsert(self, samples: list[Sample]) -> UpsertResult:
        """Add new samples and replace those whose id is already stored."""
        lines = self._lines()
        index = {self._id(line): n for n, line in enumerate(lines)}
        added = replaced = 0
        for sample in samples:
            line = sample.model_dump_json()
            if sample.id in index:
                lines[index[sample.id]] = line
                replaced += 1
            else:
                index[sample.id] = len(lines)
                lines.append(line)
                added += 1
        self._write(lines)
        return UpsertResult(added=added, replaced=replaced, total=len(lines))

    def _lines(self) -> list[str]:
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line.strip()]

    @staticmethod
    def _id(line: str) -> str | None:
        try:
            data = json.loads(line)
        except ValueError:
            return None
        return data.get("id") if isinstance(data, dict) else None

    @staticmethod
    def _parse(line: str) -> Sample | None:
        try:
            return Sample.model_validate_json(line)
        except ValidationError:
            return None

    def _write(self, lines: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        os.replace(tmp, self.path)
