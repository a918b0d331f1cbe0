"""Store stage: the JSONL ledger of samples under ``.prompt-trainer/``, and its copy on the data
branch.

One JSON object per line, one line per sample id. Writing the same PR again replaces its line
(never duplicates it). New samples are appended (a backfill of n PRs writes each line once);
replacing one rewrites the file through a temporary file and an atomic rename, so an interrupted
run leaves the previous ledger intact. Lines that no longer validate (e.g. written by a newer
version) are kept verbatim, never dropped. ``open_ledger(root)`` is the one way to open a
checkout's ledger (its path comes from ``workdir``).

The ledger outlives the runner on a data branch (default ``prompt-trainer-data``), read and
written through the Git Data API (``BranchFiles``, implemented by the GitHub client). The branch
holds only the ledger, in its own history. ``sync_with_branch`` merges the branch's samples into
the local file and writes the union back as one commit that fast-forwards the branch; when another
run moved the branch in between, it reads again, merges again and retries, so concurrent runs
never lose each other's samples. When both sides hold a sample, the one collected last wins.
``sync_store`` is that merge as a run does it: skipped without a data branch, logged;
``keep_samples`` is the run's store step (add the samples, then sync).
``training_samples`` picks the stored samples a target trains on: those of its current prompts;
``find_sample`` the latest stored sample of one PR.

Beside the ledger, ``backfill.json`` (``backfill_state.BackfillState``: a backfill's cursor and
the ETags of what each PR was read from) travels with it: the same path on the data branch,
merged and written in the same commit as the samples it speaks of (``sync_with_branch``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import ValidationError

from prompt_trainer import workdir
from prompt_trainer.backfill_state import BackfillState
from prompt_trainer.errors import GitHubError
from prompt_trainer.models import PromptSet, Sample

BRANCH_PATH = workdir.LEDGER.as_posix()
STATE_PATH = workdir.BACKFILL.as_posix()
SYNC_ATTEMPTS = 4


@dataclass(frozen=True)
class UpsertResult:
    added: int
    replaced: int
    total: int


@dataclass(frozen=True)
class SyncResult:
    """What a sync did: samples taken from the branch, and whether a commit was written."""

    branch: str
    pulled: int
    pushed: bool
    total: int
    commit: str | None = None


@dataclass(frozen=True)
class BranchFile:
    """One file read from a branch, and the head it was read at."""

    #: The file's text, or None when the file (or the branch) does not exist.
    text: str | None
    #: The commit the branch pointed at, or None when the branch does not exist.
    head: str | None


@runtime_checkable
class BranchFiles(Protocol):
    """Reads and writes one file on a branch (the GitHub client, or a test double on disk)."""

    def read_branch_file(self, branch: str, path: str) -> BranchFile:
        """The file's text and the branch head, either None when absent."""
        ...

    def write_branch_file(
        self, branch: str, path: str, text: str, *, parent: str | None, message: str
    ) -> str | None:
        """Commit ``text`` on top of ``parent`` and fast-forward ``branch`` (creating it when
        ``parent`` is None); the new commit, or None when the branch moved meanwhile."""
        ...


@runtime_checkable
class StateFiles(BranchFiles, Protocol):
    """Also reads a file at a commit and writes several files in one commit (the ledger with
    the backfill's state): the GitHub client."""

    def read_file_at(self, commit: str, path: str) -> str | None:
        """The file's text at ``commit``, None when it is not there."""
        ...

    def write_branch_files(
        self, branch: str, files: dict[str, str], *, parent: str | None, message: str
    ) -> str | None:
        """As ``write_branch_file``, with every file of ``files`` in the one commit."""
        ...


def open_ledger(root: Path) -> SampleStore:
    """The checkout's ledger, ``.prompt-trainer/samples.jsonl`` under ``root``."""
    return SampleStore(workdir.ledger_path(root))


class SampleStore:
    """A JSONL file of samples keyed by ``Sample.id``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: The backfill's state, beside the ledger (``backfill.json``).
        self.state_path = path.with_name(workdir.BACKFILL.name)
        self._ids: set[str] | None = None  # ids in the file, while this object alone wrote it
        self._unkeyed = 0

    def state(self) -> BackfillState:
        """The backfill's state (empty when there is none yet)."""
        exists = self.state_path.exists()
        return BackfillState.parse(self.state_path.read_text(encoding="utf-8") if exists else None)

    def save_state(self, state: BackfillState) -> None:
        workdir.atomic_write(self.state_path, state.text())

    def load(self) -> list[Sample]:
        """Every sample that validates, in file order."""
        return [s for s in (self._parse(line) for line in self.lines()) if s is not None]

    def upsert(self, samples: list[Sample]) -> UpsertResult:
        """Add new samples and replace those whose id is already stored."""
        ids = self._known_ids()
        if not any(s.id in ids for s in samples) and len({s.id for s in samples}) == len(samples):
            self._append([s.model_dump_json() for s in samples])
            ids.update(s.id for s in samples)
            return UpsertResult(added=len(samples), replaced=0, total=len(ids) + self._unkeyed)
        lines = self.lines()
        index = {line_id(line): n for n, line in enumerate(lines)}
        added = replaced = 0
        for sample in samples:
            line = sample.model_dump_json()
            if sample.id in index:
                line = _keep_failures(lines[index[sample.id]], sample).model_dump_json()
                lines[index[sample.id]] = line
                replaced += 1
            else:
                index[sample.id] = len(lines)
                lines.append(line)
                added += 1
        self.write_lines(lines)
        return UpsertResult(added=added, replaced=replaced, total=len(lines))

    def remove(self, ids: set[str]) -> set[str]:
        """Drop the samples with these ids from the file; the ids that were there."""
        lines = self.lines()
        kept = [line for line in lines if line_id(line) not in ids]
        found = {i for i in (line_id(line) for line in lines) if i in ids}
        if found:
            self.write_lines(kept)
        return found

    def lines(self) -> list[str]:
        """The non-empty lines of the file, as stored."""
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line.strip()]

    def write_lines(self, lines: Iterable[str]) -> None:
        """Replace the file atomically."""
        workdir.atomic_write(self.path, "".join(f"{line}\n" for line in lines))
        self._ids = None

    def _known_ids(self) -> set[str]:
        if self._ids is None:
            lines = self.lines()
            self._ids = {i for i in (line_id(line) for line in lines) if i is not None}
            self._unkeyed = len(lines) - len(self._ids)
        return self._ids

    def _append(self, lines: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            # An interrupted earlier append may have left a last line without its newline.
            if handle.tell() and not _ends_with_newline(self.path):
                handle.write(b"\n")
            handle.write("".join(f"{line}\n" for line in lines).encode("utf-8"))

    @staticmethod
    def _parse(line: str) -> Sample | None:
        try:
            return Sample.model_validate_json(line)
        except ValidationError:
            return None


class PreviewStore(SampleStore):
    """A dry run's ledger: it starts as ``store``'s lines and backfill state and takes upserts
    and states in memory, so the counts are those a real run would print, and nothing is
    written."""

    def __init__(self, store: SampleStore) -> None:
        super().__init__(store.path)
        self._lines = store.lines()
        self._state = store.state()

    def lines(self) -> list[str]:
        return list(self._lines)

    def state(self) -> BackfillState:
        return self._state

    def save_state(self, state: BackfillState) -> None:
        self._state = state

    def write_lines(self, lines: Iterable[str]) -> None:
        self._lines = list(lines)
        self._ids = None

    def _append(self, lines: list[str]) -> None:
        self._lines += lines


def _keep_failures(old_line: str, new: Sample) -> Sample:
    """Failures people reported on a PR survive collecting it again."""
    try:
        old = Sample.model_validate_json(old_line)
    except ValidationError:
        return new
    known = {f.id for f in new.failures}
    kept = tuple(f for f in old.failures if f.id not in known)
    return new.model_copy(update={"failures": kept + new.failures}) if kept else new


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def line_id(line: str) -> str | None:
    """The ``id`` of a ledger line, or None for a line that is not a JSON object with one."""
    data = _json(line)
    value = data.get("id") if data else None
    return value if isinstance(value, str) else None


def _json(line: str) -> dict[str, object] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def merge_lines(local: list[str], remote: list[str]) -> tuple[list[str], int]:
    """The union of two ledgers: local order first, then samples only the remote has. For an id
    on both sides the later ``collected_at`` wins (local on a tie), keeping the failure reports
    of both. Returns the merged lines and how many changed because of the remote."""
    merged = list(local)
    index = {line_id(line): n for n, line in enumerate(merged)}
    verbatim = set(local)
    taken = 0
    for line in remote:
        key = line_id(line)
        if key is None:
            if line not in verbatim:
                merged.append(line)
                verbatim.add(line)
            continue
        if key not in index:
            index[key] = len(merged)
            merged.append(line)
            taken += 1
        elif line != merged[index[key]]:
            here = merged[index[key]]
            newer = _collected_at(line) > _collected_at(here)
            winner, other = (line, here) if newer else (here, line)
            merged[index[key]] = _with_failures_of(other, winner)
            taken += merged[index[key]] != here
    return merged, taken


def _with_failures_of(other: str, winner: str) -> str:
    """``winner`` with the failure reports only ``other`` has: a report made on one runner is
    not lost when another runner collected the PR again meanwhile."""
    if '"failures":[]' in other:
        return winner
    try:
        sample = Sample.model_validate_json(winner)
    except ValidationError:
        return winner
    kept = _keep_failures(other, sample)
    return winner if kept is sample else kept.model_dump_json()


def _collected_at(line: str) -> str:
    """ISO timestamps in UTC (as pydantic writes them) compare correctly as strings."""
    data = _json(line)
    value = data.get("collected_at") if data else None
    return value if isinstance(value, str) else ""


def sync_with_branch(
    store: SampleStore, files: BranchFiles, branch: str, *, push: bool = True, state: bool = False
) -> SyncResult:
    """Merge the branch's ledger into the local one and, with ``push``, write the union back.
    The backfill's state is merged and written with it when there is one here (or ``state``
    asks for the branch's) and ``files`` can (``StateFiles``)."""
    for _ in range(SYNC_ATTEMPTS):
        read = files.read_branch_file(branch, BRANCH_PATH)
        remote = [line for line in (read.text or "").splitlines() if line.strip()]
        merged, pulled = merge_lines(store.lines(), remote)
        if pulled:
            store.write_lines(merged)
        states = _sync_state(store, files, read.head, wanted=state)
        if not push or (merged == remote and not states):
            return SyncResult(branch=branch, pulled=pulled, pushed=False, total=len(merged))
        text = "".join(f"{line}\n" for line in merged)
        message = f"prompt-trainer: store {len(merged)} sample(s)"
        if states and isinstance(files, StateFiles):
            cursor = BackfillState.parse(states).cursor
            message += f"; backfill {cursor.progress.split(';')[0]}" if cursor else ""
            commit = files.write_branch_files(
                branch, {BRANCH_PATH: text, STATE_PATH: states}, parent=read.head, message=message
            )
        else:
            commit = files.write_branch_file(
                branch, BRANCH_PATH, text, parent=read.head, message=message
            )
        if commit is not None:
            return SyncResult(
                branch=branch, pulled=pulled, pushed=True, total=len(merged), commit=commit
            )
    raise GitHubError(
        f"the data branch {branch} kept moving while this run wrote to it "
        f"({SYNC_ATTEMPTS} attempts)",
        fix="another prompt-trainer run is writing; give the workflow a concurrency group "
        "and run again (the local ledger under .prompt-trainer/ is intact)",
    )


def _sync_state(store: SampleStore, files: BranchFiles, head: str | None, *, wanted: bool) -> str:
    """Merge the branch's backfill state (at ``head``) into the local one; the merged text when
    the branch's differs from it (to be written), else ""."""
    if not isinstance(files, StateFiles) or not (wanted or store.state_path.exists()):
        return ""
    remote_text = files.read_file_at(head, STATE_PATH) if head else None
    merged = store.state().merged(BackfillState.parse(remote_text))
    if not store.state_path.exists() or merged != store.state():
        store.save_state(merged)
    text = merged.text()
    return "" if text == remote_text or merged == BackfillState() else text


def sync_store(
    store: SampleStore,
    files: BranchFiles,
    branch: str | None,
    *,
    push: bool,
    log: Callable[[str], None],
    held: str = "dry run",
) -> None:
    """Merge the data branch's ledger into the local one and (unless ``push`` is off, for the
    reason ``held``) write the union back, saying what happened in ``log``; nothing happens
    when ``branch`` is None (``store.branch: null``)."""
    if not branch:
        return
    result = sync_with_branch(store, files, branch, push=push)
    wrote = f"wrote {result.commit[:12]}" if result.commit else "nothing to write"
    if not push:
        wrote = f"not written ({held})"
    log(f"store: data branch {branch}: {result.pulled} sample(s) taken, {wrote}")


def find_sample(samples: list[Sample], number: int) -> Sample | None:
    """The latest stored sample of PR ``number`` (GitHub or ``--local`` ``pr-N`` directories)."""
    matches = [
        s
        for s in samples
        if s.pull.number == number or s.id.endswith((f"#{number}", f":pr-{number}"))
    ]
    return matches[-1] if matches else None


def training_samples(
    stored: list[Sample], current: PromptSet, *, need: int, log: Callable[[str], None]
) -> tuple[list[Sample], str]:
    """The stored samples that ran on the target's current prompts, or [] and the reason
    (logged) when there are fewer than ``need`` (``training.min_samples``, or 1 on request)."""
    samples = [s for s in stored if s.prompt_versions.get(current.target) == current.version]
    if len(samples) < need:
        why = (
            f"{len(samples)} stored sample(s) ran on the current prompts ({current.version}); "
            f"{need} needed (training.min_samples)"
        )
        log(
            f"train: {current.target}: {why}. Collect more with `prompt-trainer collect`; "
            "nothing proposed"
        )
        return [], why
    return samples, ""


def keep_samples(
    store: SampleStore,
    samples: list[Sample],
    files: BranchFiles | None,
    branch: str | None,
    *,
    push: bool,
    log: Callable[[str], None],
) -> None:
    """The store step of a run: add this run's samples to the ledger, then (with GitHub,
    ``files``) merge it with the data branch (``sync_store``)."""
    stored = store.upsert(samples)
    log(f"store: {stored.added} added, {stored.replaced} replaced, {stored.total} in the ledger")
    if files is not None:
        sync_store(store, files, branch, push=push, log=log)
