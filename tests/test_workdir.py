"""The working directory: the layout the Action caches, the data branch's path, atomic writes."""

from __future__ import annotations

from pathlib import Path

import yaml

from prompt_trainer import workdir
from prompt_trainer.store import BRANCH_PATH, open_ledger

ROOT = Path(__file__).resolve().parents[1]


def test_the_action_caches_exactly_the_paths_the_runs_keep(tmp_path: Path) -> None:
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    cached = [
        step["with"]["path"].split()
        for step in spec["runs"]["steps"]
        if step.get("uses", "").startswith("actions/cache/")
    ]
    kept = [
        workdir.cache_dir(tmp_path),
        workdir.index_path(tmp_path),
        workdir.versions_path(tmp_path),
        workdir.runs_dir(tmp_path),
    ]
    expected = [p.relative_to(tmp_path).as_posix() for p in kept]
    assert cached == [expected, expected]  # restore and save


def test_the_ledger_sits_at_the_data_branch_path_under_the_root(tmp_path: Path) -> None:
    store = open_ledger(tmp_path)
    assert store.path == tmp_path / ".prompt-trainer" / "samples.jsonl"
    assert store.path.relative_to(tmp_path).as_posix() == BRANCH_PATH
    assert store.load() == []


def test_an_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = workdir.runs_dir(tmp_path) / "run" / "status.json"
    workdir.atomic_write(path, "first\n")
    workdir.atomic_write(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n"
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]


def test_a_rewritten_ledger_goes_through_the_atomic_write(tmp_path: Path) -> None:
    store = open_ledger(tmp_path)
    store.write_lines(['{"id": "a"}', '{"id": "b"}'])
    store.write_lines(['{"id": "b"}'])
    assert store.lines() == ['{"id": "b"}']
    assert sorted(p.name for p in workdir.base_dir(tmp_path).iterdir()) == ["samples.jsonl"]
