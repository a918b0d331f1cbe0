"""Run hygiene: each run's working directory under ``.prompt-trainer/runs/<timestamp>/``.

A run directory keeps what a person needs to see what a run did, and what the next run needs to
resume an interrupted one:

- ``status.json``: the command, the inputs key, the state (``running``, ``done``, ``failed``),
  timestamps, and the steps done (``collect:#12``, ``train:coder``, ``propose:coder``), each
  with what it produced;
- ``inputs.json``: the inputs summary (command, event, plan, options, targets, the evidence
  counts collected);
- ``usage.json``: LM usage per target (calls, tokens, cost);
- ``targets/<name>/``: the elected candidate (``candidate.json``, the full record: files,
  analysis, changes, held-out evaluation), ``evaluation.json`` and the rendered ``body.md``;
- ``outcome.json``: proposals, blocked targets, guardrail failures and the final message.

Resuming: a run that finds a ``running`` (interrupted: killed) or ``failed`` (stopped by an
error, which it recorded) run with the same inputs key started less than
``runs.resume_within_hours`` ago continues in that directory, and says which: an interrupted
run is resumed, a failed one retried from the step that failed. Collected PRs are not
collected again, and a target whose training inputs hash the same (``training_inputs``: the
prompt files' contents, each sample's id and content, the model id, the endpoint, the strategy,
the target's and the ``training`` options) reuses its stored candidate instead of calling the
LLM again; any difference trains afresh. Proposing is idempotent and always runs. Run
directories older than ``runs.keep_days`` are deleted when a new run starts.

The steps are recorded with an atomic replace of ``status.json``, so a run killed at any point
leaves a readable status.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_trainer.errors import PromptTrainerError
from prompt_trainer.evaluate.effects import per_edit_json
from prompt_trainer.models import Candidate, PromptSet, Sample
from prompt_trainer.redact import mask_held
from prompt_trainer.settings import LLMSettings, Target, TrainingOptions
from prompt_trainer.workdir import atomic_write, runs_dir

if TYPE_CHECKING:
    from prompt_trainer.propose import Proposal

Log = Callable[[str], None]
STAMP = "%Y%m%dT%H%M%SZ"
STATUS = "status.json"


@dataclass
class RunRecord:
    """One run's directory and status; every write goes to disk at once."""

    path: Path
    status: dict[str, Any] = field(default_factory=dict)

    def done(self, step: str) -> dict[str, Any] | None:
        """What ``step`` recorded, if it is done."""
        value = (self.status.get("steps") or {}).get(step)
        return value if isinstance(value, dict) else None

    def mark(self, step: str, **info: Any) -> None:
        """Record ``step`` as done, with what it produced."""
        self.status.setdefault("steps", {})[step] = {"at": _now_text(), **info}
        self._save()

    def mark_collected(self, number: int, sample_id: str) -> None:
        """Record PR ``number``'s ``collect:#<number>`` step (``collected`` reads them back)."""
        self.mark(f"collect:#{number}", sample=sample_id)

    def mark_proposal(self, proposal: Proposal) -> None:
        """Record the target's ``propose:<target>`` step with what was done."""
        info = {"operation": proposal.operation, "number": proposal.number, "url": proposal.url}
        self.mark(f"propose:{proposal.target}", **info)

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, json.dumps(data, indent=2, default=str) + "\n")

    def write_text(self, name: str, text: str) -> Path:
        """Write a file of the run directory, which the Action uploads as an artifact: the
        secrets the process holds are masked first (``redact.mask_held``)."""
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, mask_held(text))
        return path

    def finish(self, state: str, message: str = "") -> None:
        self.status.update(state=state, finished_at=_now_text(), message=message)
        self._save()

    def save_candidate(
        self, candidate: Candidate, inputs: str, body: str, gate: tuple[str, ...]
    ) -> None:
        """Keep the elected candidate, its evaluation and body; ``inputs`` is the hash of what it
        was trained on (``training_inputs``), so a resumed run reuses it only for those."""
        base = f"targets/{candidate.target}"
        self.write_text(f"{base}/candidate.json", candidate.model_dump_json(indent=2) + "\n")
        self.write_json(
            f"{base}/evaluation.json",
            {
                "guardrails": list(gate) or "passed",
                "held_out": candidate.evaluation.model_dump() if candidate.evaluation else None,
                "eval_command": candidate.eval_command.model_dump()
                if candidate.eval_command
                else None,
                "changes": [c.model_dump() for c in candidate.changes],
                "dropped": list(candidate.dropped),
                **per_edit_json(candidate),
            },
        )
        self.write_text(f"{base}/body.md", body)
        usage = self._read("usage.json")
        usage[candidate.target] = candidate.usage.model_dump()
        self.write_json("usage.json", usage)
        self.mark(f"train:{candidate.target}", inputs=inputs, fingerprint=candidate.fingerprint)

    def stored_candidate(self, target: str, inputs: str) -> Candidate | None:
        """The candidate an interrupted run already trained on the same inputs."""
        step = self.done(f"train:{target}")
        path = self.path / "targets" / target / "candidate.json"
        if step is None or step.get("inputs") != inputs or not path.exists():
            return None
        try:
            return Candidate.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError:
            return None

    def search_dirs(self, target: str) -> tuple[Path, tuple[Path, ...]]:
        """Where the ``gepa`` strategy keeps ``target``'s search state in this run, and the
        same directories of earlier runs, newest first (a search with the same inputs resumes
        from there: ``train.gepa_state``)."""
        mine = self.path / "targets" / target / "search"
        earlier = [
            path / "targets" / target / "search"
            for path in sorted(_run_dirs(self.path.parent), reverse=True)
            if path != self.path
        ]
        return mine, tuple(p for p in earlier if p.is_dir())

    def collected(self) -> frozenset[int]:
        """The PRs this run (or the run it resumes) already collected and stored."""
        steps = self.status.get("steps") or {}
        return frozenset(int(k[len("collect:#") :]) for k in steps if k.startswith("collect:#"))

    def _read(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        self.status["updated_at"] = _now_text()
        self.write_json(STATUS, self.status)


def training_inputs(
    current: PromptSet,
    samples: list[Sample],
    *,
    llm: LLMSettings,
    strategy: str,
    target: Target,
    options: TrainingOptions,
) -> str:
    """What a candidate was trained on, as ``<prompt version>:<hash>``: the hash covers every
    prompt file (path and content), each sample (id and a hash of its whole record), the model
    id and endpoint (never the key), the strategy, the target and the training options."""
    parts = {
        "files": [[f.path, f.content] for f in current.files],
        "samples": sorted([s.id, _digest(s.model_dump_json())] for s in samples),
        "model": llm.model,
        "api_base": llm.api_base,
        "strategy": strategy,
        "target": target.model_dump(mode="json"),
        "training": options.model_dump(mode="json"),
    }
    return f"{current.version}:{_digest(json.dumps(parts, sort_keys=True))[:16]}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def start(
    root: Path,
    *,
    command: str,
    key: str,
    inputs: dict[str, Any],
    keep_days: int,
    resume_within_hours: int,
    log: Log,
    now: datetime | None = None,
) -> RunRecord:
    """Prune old runs, then resume the interrupted run with the same ``key`` or start one."""
    now = now or datetime.now(UTC)
    base = runs_dir(root)
    pruned = prune(base, keep_days=keep_days, now=now)
    if pruned:
        log(
            f"runs: deleted {len(pruned)} run director{'y' if len(pruned) == 1 else 'ies'} "
            f"older than {keep_days} days"
        )
    earlier = resumable(base, key=key, now=now, within=timedelta(hours=resume_within_hours))
    if earlier is not None:
        log(_resuming(earlier))
        earlier.status["resumed"] = int(earlier.status.get("resumed", 0)) + 1
        earlier.status["state"] = "running"
        earlier._save()
        return earlier
    path = _new_dir(base, now)
    record = RunRecord(
        path,
        {
            "id": path.name,
            "command": command,
            "key": key,
            "state": "running",
            "started_at": now.isoformat(),
            "resumed": 0,
            "steps": {},
        },
    )
    record._save()
    record.write_json("inputs.json", inputs)
    return record


def _resuming(earlier: RunRecord) -> str:
    """What resuming ``earlier`` means: a run that failed (stopped by an error, which it
    recorded) is retried from the step that failed; one that was interrupted (killed while
    ``running``) goes on from where it stopped."""
    steps = ", ".join(sorted(earlier.status.get("steps") or {})) or "none"
    if earlier.status.get("state") == "failed":
        why = earlier.status.get("message") or "an error"
        return (
            f"runs: retrying run {earlier.path.name}, which failed ({why}): the steps it "
            f"finished are kept ({steps}), the one that failed runs again"
        )
    return f"runs: resuming the interrupted run {earlier.path.name} (steps done: {steps})"


@contextlib.contextmanager
def recorded(record: RunRecord) -> Iterator[RunRecord]:
    """Mark the run ``done`` when the block ends, ``failed`` (resumable) when it raises."""
    try:
        yield record
    except BaseException as exc:
        why = exc.message if isinstance(exc, PromptTrainerError) else f"{type(exc).__name__}: {exc}"
        record.finish("failed", why)
        raise
    record.finish("done", str(record.status.get("message", "")))


def resumable(base: Path, *, key: str, now: datetime, within: timedelta) -> RunRecord | None:
    """The latest unfinished run with the same key started within ``within``."""
    if within <= timedelta(0):
        return None
    for path in sorted(_run_dirs(base), reverse=True):
        record = read(path)
        if record is None or record.status.get("key") != key:
            continue
        started = _stamp(path.name)
        if (
            record.status.get("state") in ("running", "failed")
            and started
            and now - started <= within
        ):
            return record
        return None  # the latest run with this key finished: start afresh
    return None


def read(path: Path) -> RunRecord | None:
    try:
        status = json.loads((path / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return RunRecord(path, status) if isinstance(status, dict) else None


def list_runs(root: Path) -> list[RunRecord]:
    """Every run with a readable status, newest first."""
    return [r for r in (read(p) for p in sorted(_run_dirs(runs_dir(root)), reverse=True)) if r]


def prune(base: Path, *, keep_days: int, now: datetime) -> list[Path]:
    """Delete run directories whose timestamp is older than ``keep_days``."""
    old = [
        path
        for path in _run_dirs(base)
        if (stamp := _stamp(path.name)) is not None and now - stamp > timedelta(days=keep_days)
    ]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return old


def _run_dirs(base: Path) -> list[Path]:
    if not base.is_dir():
        return []
    return [p for p in base.iterdir() if p.is_dir() and _stamp(p.name) is not None]


def _stamp(name: str) -> datetime | None:
    try:
        return datetime.strptime(name[:16], STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def _new_dir(base: Path, now: datetime) -> Path:
    stamp = now.strftime(STAMP)
    for n in range(1000):
        path = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return path
    raise PromptTrainerError(f"cannot create a run directory under {base}")


def _now_text() -> str:
    return datetime.now(UTC).isoformat()
