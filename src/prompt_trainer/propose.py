"""Propose stage: write the candidate locally, and open or update its pull request.

Every run writes the candidate under ``.prompt-trainer/candidates/<target>/candidate-NNN/`` (the
files at their repository paths, ``analysis.md``, ``body.md`` and ``candidate.json``), numbered
sequentially. On GitHub, the candidate becomes one commit on ``prompt-trainer/<target>`` (made
through the Git Data API on top of the default branch) and one pull request from that branch:
created the first time, force-updated and edited afterwards, never duplicated. The bot never
writes to the default branch and never merges. A candidate is committed only on a default-branch
head whose prompt files are the ones it was trained on (edits merged meanwhile are never
reverted: the target is skipped and retrained), and the branch is force-moved only over the
bot's own commits. ``propose_candidate`` is the run's step: a rejected, dry-run, local or opened
proposal for one rendered candidate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from prompt_trainer import workdir
from prompt_trainer.collect.github_pr import CommitSource
from prompt_trainer.errors import PromptTrainerError
from prompt_trainer.evaluate.effects import per_edit_json
from prompt_trainer.github import ForeignCommitsError, GitHubClient, PullHead
from prompt_trainer.models import Candidate
from prompt_trainer.render.state import read_state, replace_state, restated
from prompt_trainer.settings import Target
from prompt_trainer.targets import load_prompt_set

BRANCH_PREFIX = "prompt-trainer/"
CANDIDATE_DIR = re.compile(r"^candidate-(\d{3,})$")
#: What happened to a target's proposal. ``created`` / ``updated`` / ``closed`` / ``none`` are
#: the Action's ``operation`` output; ``skipped`` (nothing pushed, see ``reason``), ``rejected``
#: (the guardrails failed), ``dry-run``, ``written`` (no GitHub client) and ``bundled`` (the
#: Action's ``prepare`` job: the ``publish`` job proposes it) report as ``none``.
Operation = Literal[
    "created", "updated", "closed", "none", "skipped", "rejected", "dry-run", "written", "bundled"
]


@dataclass(frozen=True)
class Proposal:
    """What happened to one target's pull request."""

    target: str
    operation: Operation
    number: int | None = None
    url: str | None = None
    candidate_dir: Path | None = None
    #: Why nothing was pushed (``skipped``), for the log.
    reason: str | None = None
    #: Opened (or asked to be opened) as a draft pull request.
    draft: bool = False


def branch_name(target: str) -> str:
    return f"{BRANCH_PREFIX}{target}"


def own_target(pull: PullHead, targets: tuple[str, ...]) -> str | None:
    """The target ``pull`` proposes, when it is the bot's own: opened by the bot's login from
    ``prompt-trainer/<target>`` of this repository for a configured target. None for any other
    PR, whatever its branch is called or its body (which anyone opening a PR writes) says."""
    if not pull.by_bot:
        return None
    return next((t for t in targets if pull.head_ref == branch_name(t)), None)


def write_candidate(
    candidate: Candidate, *, root: Path, body: str, gate_problems: tuple[str, ...] = ()
) -> Path:
    """Write the next ``candidate-NNN`` directory for the target and return it.

    ``evaluation.json`` records the guardrail verdict, every applied change with the evidence
    it cites, the edits dropped and why, and the LM usage."""
    base = workdir.candidates_dir(root, candidate.target)
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
        "replay": candidate.replay.model_dump(mode="json") if candidate.replay else None,
        "usage": candidate.usage.model_dump(),
        **per_edit_json(candidate),
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
    client: GitHubClient,
    candidate: Candidate,
    *,
    title: str,
    render: Callable[[str | None], str],
    labels: tuple[str, ...],
    current_version: str,
    prompts: Target,
    draft: bool = False,
) -> Proposal:
    """Create, update or close the target's one pull request, idempotently (a new one as a
    draft when ``draft``).

    - The candidate equals the current prompts: close the open PR with a comment (``closed``),
      or do nothing (``none``).
    - The open PR already carries this candidate (fingerprint in its state block): no new
      commit, no edit (``none``).
    - People pushed to the bot's branch since its last commit: never force-push over them;
      comment instead (``none``).
    - The default branch's prompt files of ``prompts`` are no longer those the candidate was
      trained on (an edit was merged meanwhile), or the branch holds commits the bot did not
      write: nothing is pushed (``skipped``, with the reason).
    - Otherwise one commit on the branch (force-moved) and the PR created or edited
      (``created`` / ``updated``). ``render`` makes the body once the commit is known, so the
      state block records it.
    """
    target = candidate.target
    branch = branch_name(target)
    existing = client.find_open_pull(branch)
    number, url = (existing.number, existing.url) if existing else (None, None)
    state = read_state(client.pull_body(number)) if number else None
    if candidate.fingerprint == current_version:
        if number is None:
            return Proposal(target, "none")
        client.comment_once(
            number,
            "Closing: the latest evidence no longer supports changing the prompts of "
            f"`{target}` (the new candidate equals the current prompts).",
            key=f"close:{candidate.fingerprint}",
        )
        client.close_pull(number)
        return Proposal(target, "closed", number, url)
    if number is not None and state and state.fingerprint == candidate.fingerprint:
        client.ensure_labels(number, labels)  # in case an earlier run stopped before them
        return Proposal(target, "none", number, url)
    recorded = state.commit if state else None
    if number is not None and recorded and client.branch_head(branch) != recorded:
        client.comment_once(
            number,
            f"prompt-trainer has a new candidate for `{target}` (`{candidate.fingerprint}`), "
            "but people have pushed to this branch since its last commit, so it will not "
            "force-push over their work. Comment `/prompt-trainer revise` to have it revise "
            "on top of your commits, or close this PR and delete the branch to let it open a "
            "fresh one.",
            key=f"human-pushed:{candidate.fingerprint}",
        )
        return Proposal(target, "none", number, url)
    message = (
        f"prompt-trainer: update {target} prompts\n\n"
        f"From {len(candidate.sample_ids)} sample(s); candidate {candidate.fingerprint}, "
        f"base version {candidate.base_version}."
    )
    base = client.branch_head(client.info().default_branch)
    moved = _prompts_moved(client, candidate, prompts=prompts, base=base)
    if base is None or moved:
        return Proposal(target, "skipped", number, url, reason=moved or "no default branch")
    try:
        sha = client.commit_files(
            branch=branch,
            files={f.path: f.content for f in candidate.files},
            message=message,
            base=base,
        )
    except ForeignCommitsError as exc:
        if number is not None:
            client.comment_once(
                number,
                f"prompt-trainer has a new candidate for `{target}` (`{candidate.fingerprint}`), "
                f"but `{branch}` holds commits it did not write ({', '.join(exc.commits)}), so "
                "it will not force-push over them. Comment `/prompt-trainer revise` to revise "
                "on top of them, or close this PR and delete the branch to let it open a fresh "
                "one.",
                key=f"foreign:{candidate.fingerprint}",
            )
        return Proposal(target, "skipped", number, url, reason=exc.diagnostics())
    made = client.open_or_update_pull(
        branch=branch, title=title, body=render(sha), labels=labels, draft=draft
    )
    return Proposal(
        target=target, operation=made.operation, number=made.number, url=made.url, draft=draft
    )


def _prompts_moved(
    client: GitHubClient, candidate: Candidate, *, prompts: Target, base: str | None
) -> str | None:
    """Why the candidate may not be committed on ``base``: its prompt files there are not the
    version it was trained on (someone merged an edit meanwhile). None when they are."""
    if base is None:
        return None
    now = load_prompt_set(prompts, CommitSource(client, base), required=False).version
    if now == candidate.base_version:
        return None
    return (
        f"the prompt files of `{candidate.target}` changed on the default branch since this "
        f"candidate was trained (version {candidate.base_version[:12]}, now {now[:12]}); not "
        "proposed, so those edits are kept: the next run retrains on the new version"
    )


def propose_candidate(
    client: GitHubClient | None,
    candidate: Candidate,
    *,
    title: str,
    body: str,
    current_version: str,
    folder: Path | None,
    problems: tuple[str, ...],
    dry_run: bool,
    labels: tuple[str, ...],
    prompts: Target,
    log: Callable[[str], None],
    draft: tuple[str, ...] = (),
) -> Proposal:
    """The propose step of a run: ``rejected`` (guardrail ``problems``), ``dry-run``,
    ``written`` (no GitHub), or what ``open_pull_request`` did with ``title`` and ``body`` (its
    state block then records the commit; ``render.state.restated``), as a draft when ``draft``
    says why; ``folder`` is the candidate's."""
    if problems:
        return Proposal(candidate.target, "rejected", candidate_dir=folder)
    if draft:
        log(f"propose: {candidate.target} as a draft: {'; '.join(draft)}")
    if dry_run or client is None:
        operation: Operation = "dry-run" if dry_run else "written"
        return Proposal(candidate.target, operation, candidate_dir=folder, draft=bool(draft))
    made = open_pull_request(
        client,
        candidate,
        title=title,
        render=lambda sha: replace_state(body, restated(body, candidate, commit=sha)),
        labels=labels,
        current_version=current_version,
        prompts=prompts,
        draft=bool(draft),
    )
    if made.reason:
        log(f"propose: {candidate.target} skipped: {made.reason}")
    return Proposal(made.target, made.operation, made.number, made.url, folder, draft=made.draft)
