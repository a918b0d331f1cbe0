"""Propose stage: write the candidate locally, and open or update its pull request.

Every run writes the candidate under ``.prompt-trainer/candidates/<target>/candidate-NNN/`` (the
files at their repository paths, ``analysis.md``, ``body.md`` and ``candidate.json``), numbered
sequentially. On GitHub, the candidate becomes one commit on ``prompt-trainer/<target>`` (made
through the Git Data API on top of the default branch) and one pull request from that branch:
created the first time, force-updated and edited afterwards, never duplicated. The bot never
writes to the default branch and never merges.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from prompt_trainer.errors import PromptTrainerError
from prompt_trainer.github import GitHubClient
from prompt_trainer.models import Candidate

BRANCH_PREFIX = "prompt-trainer/"
CANDIDATE_DIR = re.compile(r"^candidate-(\d{3,})$")


@dataclass(frozen=True)
class Proposal:
    """What happened to one target's pull request."""

    target: str
    operation: str
    number: int | None = None
    url: str | None = None
    candidate_dir: Path | None = None


def branch_name(target: str) -> str:
    return f"{BRANCH_PREFIX}{target}"


def write_candidate(
    candidate: Candidate, *, root: Path, body: str, gate_problems: tuple[str, ...] = ()
) -> Path:
    """Write the next ``candidate-NNN`` directory for the target and return it.

    ``evaluation.json`` records the guardrail verdict, every applied change with the evidence
    it cites, the edits dropped and why, and the LM usage."""
    base = root / ".prompt-trainer" / "candidates" / candidate.target
    base.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in base.iterdir() if (m := CANDIDATE_DIR.match(p.name))]
    folder = base / f"candidate-{max(numbers, default=0) + 1:03d}"
    folder.mkdir()
    for file in candidate.files:
        relative = PurePosixPath(file.path)
        if relative.is_absolute() or ".." in relative.parts:
            raise PromptTrainerError(
                f"refusing to write candidate file outside its folder: {file.path}"
            )
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content, encoding="utf-8")
    (folder / "analysis.md").write_text(candidate.analysis_summary + "\n", encoding="utf-8")
    (folder / "body.md").write_text(body, encoding="utf-8")
    meta = {
        "target": candidate.target,
        "fingerprint": candidate.fingerprint,
        "base_version": candidate.base_version,
        "sample_ids": list(candidate.sample_ids),
        "files": [f.path for f in candidate.files],
        "usage": candidate.usage.model_dump(),
    }
    (folder / "candidate.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    evaluation = {
        "guardrails": {"passed": not gate_problems, "problems": list(gate_problems)},
        "changes": [c.model_dump(mode="json") for c in candidate.changes],
        "dropped": list(candidate.dropped),
        "held_out": candidate.evaluation.model_dump(mode="json") if candidate.evaluation else None,
        "eval_command": (
            {
                **candidate.eval_command.model_dump(mode="json"),
                "delta": candidate.eval_command.delta,
            }
            if candidate.eval_command
            else None
        ),
        "usage": candidate.usage.model_dump(),
    }
    (folder / "evaluation.json").write_text(
        json.dumps(evaluation, indent=2) + "\n", encoding="utf-8"
    )
    return folder


def _eval_json(candidate: Candidate) -> dict[str, object] | None:
    result = candidate.eval_command
    if result is None:
        return None
    return {**result.model_dump(mode="json"), "delta": result.delta}


def open_pull_request(
    client: GitHubClient, candidate: Candidate, *, title: str, body: str, labels: tuple[str, ...]
) -> Proposal:
    """Commit the candidate to the target's branch and create or update its pull request."""
    branch = branch_name(candidate.target)
    message = (
        f"prompt-trainer: update {candidate.target} prompts\n\n"
        f"From {len(candidate.sample_ids)} sample(s); candidate {candidate.fingerprint}, "
        f"base version {candidate.base_version}."
    )
    client.commit_files(
        branch=branch, files={f.path: f.content for f in candidate.files}, message=message
    )
    number, url, operation = client.open_or_update_pull(
        branch=branch, title=title, body=body, labels=labels
    )
    return Proposal(target=candidate.target, operation=operation, number=number, url=url)
