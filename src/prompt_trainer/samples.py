"""``prompt-trainer samples ls`` and ``samples rm``: the stored samples, one line each, and
removing one that should not count (a test PR, evidence given by mistake).

Reads and rewrites the local ledger (``.prompt-trainer/samples.jsonl``) through ``SampleStore``;
the measurement index is rebuilt from it on the next report. The data branch is not written here:
a sample removed locally is merged back from the branch by the next run that syncs, so remove it
there too (or collect without the branch) when the branch holds it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from prompt_trainer.errors import ConfigError
from prompt_trainer.models import Sample
from prompt_trainer.store import SampleStore


@dataclass(frozen=True)
class SampleRow:
    """One stored sample as ``samples ls`` shows it."""

    id: str
    pull: int | None
    collected_at: str
    tests: int
    traces: int
    comments: int
    skipped: int


def row(sample: Sample) -> SampleRow:
    return SampleRow(
        id=sample.id,
        pull=sample.pull.number,
        collected_at=sample.collected_at.isoformat(),
        tests=sum(run.counts()["tests"] for run in sample.test_runs),
        traces=len(sample.traces),
        comments=len(sample.feedback),
        skipped=len(sample.skipped),
    )


def list_rows(store: SampleStore) -> list[SampleRow]:
    """Every sample of the ledger, in file order."""
    return [row(s) for s in store.load()]


def table(rows: list[SampleRow]) -> str:
    """A Markdown table of ``rows`` and their count."""
    lines = [
        "| id | PR | collected | tests | traces | comments | skipped |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.id} | {r.pull if r.pull is not None else ''} | {r.collected_at[:19]} | "
        f"{r.tests} | {r.traces} | {r.comments} | {r.skipped} |"
        for r in rows
    ]
    return "\n".join([*lines, "", f"{len(rows)} sample(s)."])


def json_lines(rows: list[SampleRow]) -> str:
    return "\n".join(json.dumps(asdict(r)) for r in rows)


def remove(store: SampleStore, ids: list[str]) -> list[str]:
    """Remove the samples ``ids`` name; an id the ledger lacks is a ConfigError listing a few
    that exist (nothing is removed then)."""
    known = {r.id for r in list_rows(store)}
    missing = [i for i in ids if i not in known]
    if missing:
        shown = ", ".join(sorted(known)[:5]) or "none (the ledger is empty)"
        raise ConfigError(
            f"no stored sample with id {', '.join(map(repr, missing))}",
            fix=f"see `prompt-trainer samples ls`; stored ids include: {shown}",
        )
    return sorted(store.remove(set(ids)))
