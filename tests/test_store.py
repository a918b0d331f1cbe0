"""The JSONL ledger: replace by id, keep unknown lines, survive a rewrite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prompt_trainer.models import PullRequestInfo, Sample
from prompt_trainer.store import SampleStore


def sample(sid: str, title: str) -> Sample:
    return Sample(
        id=sid, pull=PullRequestInfo(title=title), collected_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


def test_upsert_replaces_by_id_and_keeps_order(tmp_path: Path) -> None:
    store = SampleStore(tmp_path / "s.jsonl")
    assert store.upsert([sample("a", "one"), sample("b", "two")]).added == 2
    result = store.upsert([sample("a", "one again"), sample("c", "three")])
    assert (result.added, result.replaced, result.total) == (1, 1, 3)
    assert [(s.id, s.pull.title) for s in store.load()] == [
        ("a", "one again"),
        ("b", "two"),
        ("c", "three"),
    ]


def test_lines_it_cannot_read_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "future", "new_field": 1}\nnot json\n')
    store = SampleStore(path)
    store.upsert([sample("a", "x")])
    lines = path.read_text().splitlines()
    assert lines[:2] == ['{"id": "future", "new_field": 1}', "not json"] and len(lines) == 3
    assert [s.id for s in store.load()] == ["a"]


def test_new_samples_are_appended_after_a_torn_last_line(tmp_path: Path) -> None:
    """An interrupted append leaves a line without its newline: the next append starts a fresh
    line, so the torn one stays on its own (kept verbatim, never glued to a sample)."""
    path = tmp_path / "s.jsonl"
    store = SampleStore(path)
    store.upsert([sample("a", "x")])
    with path.open("a") as handle:
        handle.write('{"id": "b", "pu')
    store = SampleStore(path)
    result = store.upsert([sample("c", "y")])
    assert (result.added, result.replaced) == (1, 0)
    assert [s.id for s in store.load()] == ["a", "c"]
    assert path.read_text().splitlines()[1] == '{"id": "b", "pu'
