"""The publish job (``prompt-trainer action --mode publish``): check a bundle again, then make
its writes with the write token.

Takes the settings of this job (the default branch's configuration, ``config_trust``), the
bundle the ``prepare`` job wrote (already checked against its sha256 and the schema by
``loop.bundle``) and the ``evaluate`` job's results when there are any; returns an
``ActionResult`` like any other mode. It runs no configured command, calls no model and parses
no evidence: it reads the bundle's records and its own configuration, and GitHub's answers about
the repository. Everything is checked again here, by this job's configuration, before it is
written:

- samples and bullet-ledger entries (``bullets.jsonl``: the merged proposals' bullets and what
  the prepare run observed of every current bullet) go to the data branch as records (the
  schema checked them), and a backfill's state (``backfill.json``: its cursor, each PR's ETags;
  its sizes bounded by the schema) in the commit of the samples, merged with the branch's; a
  fork's run stores nothing (GitHub gave it a read-only token);
- every proposal passes the guardrails again (``evaluate.check_candidate``: paths and names of
  the files, sizes, secrets, keep-lines, no copy of the outside text of the samples it was
  trained on and of the other text the model was shown, ``Memory.outside``; the held-out
  gate on the per-edit results the candidate carries, under this job's
  ``training.require_improvement``) against the prompt files of this job's checkout, then the
  verdicts of ``eval_command`` and the replay from the evaluate job's results; a candidate
  the configuration would evaluate with a command and that has no result is not proposed; a
  candidate the gate (the prepare job's or this job's) marks a draft opens as a draft;
- a candidate the evaluate job's replay-scored search made (``Evaluation.searched``, for a
  ``SearchIntent`` of the bundle) is outside data: it is rebuilt from what can be checked
  against the bundle (``loop.searched``: its digest and content hash, the target's files, only
  its listed changes, each cited and supported by the plan's training pull requests, a held-out
  replay of the plan's held-out tasks), passes every check above, and is opened as a draft whose
  body this job renders;
- a close, a revision or a revert touches only the bot's own pull requests and the target's
  prompt files, and a revision passes the guardrails again;
- the dashboard written is the one the bot finds by its marker, whatever number the bundle says.

All writes happen under the run lock, like any writing run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath

from prompt_trainer import evaluate
from prompt_trainer.errors import ConfigError
from prompt_trainer.github import GitHubClient
from prompt_trainer.github.connect import connect
from prompt_trainer.loop import dashboard
from prompt_trainer.loop.action import ActionResult
from prompt_trainer.loop.bundle import (
    Bundle,
    Evaluation,
    ProposalIntent,
    RevisionIntent,
    SearchIntent,
)
from prompt_trainer.loop.contract import RunOptions, RunOutcome
from prompt_trainer.loop.followup import open_revert
from prompt_trainer.loop.lock import busy_message, exclusive
from prompt_trainer.loop.revision import apply_revision, proposed_at, revision_problems
from prompt_trainer.loop.searched import DRAFT, held_out_reason, rebuilt, rendered
from prompt_trainer.memory import sync_bullets
from prompt_trainer.models import Candidate, PromptSet
from prompt_trainer.propose import Proposal, own_target, propose_candidate
from prompt_trainer.render import ProposalView, with_evaluation
from prompt_trainer.settings import Settings, Target
from prompt_trainer.store import keep_samples, open_ledger
from prompt_trainer.targets import LocalSource, load_prompt_set

Log = Callable[[str], None]


@dataclass
class Published:
    """What this job wrote (or refused), for its outcome."""

    did: list[str] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    bodies: dict[str, str] = field(default_factory=dict)
    refused: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Why a proposal was opened as a draft.
    drafts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Why a target whose search ran in the evaluate job has nothing to propose.
    skipped: dict[str, str] = field(default_factory=dict)


def publish_bundle(
    settings: Settings,
    options: RunOptions,
    bundle: Bundle,
    evaluation: Evaluation | None,
    *,
    log: Log,
) -> ActionResult:
    """Check ``bundle`` against this job's configuration and write it, holding the run lock."""
    client = connect(settings, options.repo)
    if bundle.repository.casefold() != client.info().full_name.casefold():
        raise ConfigError(
            f"the bundle was made for {bundle.repository}, not {client.info().full_name}",
            fix="publish a bundle only in the repository (and run) that prepared it",
        )
    # The review loop commits with fast-forwards only and takes no lock, as in a single job.
    unlocked = options.dry_run or bundle.plan == "revise"
    with exclusive(client, settings, dry_run=unlocked, log=log) as held_by:
        if held_by:
            return ActionResult(outcome=RunOutcome(message=busy_message(held_by)))
        done = _publish(settings, client, bundle, evaluation, dry_run=options.dry_run, log=log)
    outcome = RunOutcome(
        samples=bundle.samples_of(bundle.store),
        proposals=tuple(done.proposals),
        bodies=done.bodies,
        candidates=tuple(done.candidates),
        gate_failures={**bundle.outcome.gate_failures, **done.refused},
        blocked=dict(bundle.outcome.blocked),
        message=bundle.outcome.message,
        skipped_targets=_skipped(bundle, done),
        drafts=done.drafts,
    )  # fmt: skip
    did = (*bundle.outcome.did, *done.did)
    return ActionResult(did, outcome, bundle.outcome.report_markdown)


def _skipped(bundle: Bundle, done: Published) -> dict[str, str]:
    """Why each target was not proposed: the prepare job's reasons, overridden by this job's
    (a search the evaluate job ran), without those this job proposed."""
    proposed = {p.target for p in done.proposals if p.operation != "rejected"}
    refused = {t: "; ".join(p) for t, p in done.refused.items()}
    found = {**bundle.outcome.skipped_targets, **done.skipped, **refused}
    return {t: why for t, why in found.items() if t not in proposed}


def _publish(
    settings: Settings,
    client: GitHubClient,
    bundle: Bundle,
    evaluation: Evaluation | None,
    *,
    dry_run: bool,
    log: Log,
) -> Published:
    done = Published()
    _store(settings, client, bundle, dry_run=dry_run, log=log, done=done)
    if dry_run:
        log(f"publish: dry run: {_summary(bundle)} not written")
    for comment in () if dry_run else bundle.comments:
        client.comment_once(comment.number, comment.body, key=comment.key)
    for number in () if dry_run else bundle.closes:
        _close(settings, client, number, log=log)
    for revert in () if dry_run else bundle.reverts:
        if problem := _paths_problem(settings, revert.target, revert.files):
            log(f"publish: revert of {revert.target} refused: {problem}")
        elif made := open_revert(client, revert, labels=settings.config.pull_request.labels):
            done.did.append(f"opened revert PR #{made}")
    for intent in bundle.proposals:
        _propose(settings, client, bundle, intent, evaluation, dry_run=dry_run, log=log, done=done)
    for search in bundle.searches:
        _propose_searched(settings, client, bundle, search, evaluation, dry_run=dry_run, log=log,
                          done=done)  # fmt: skip
    if bundle.revision is not None and not dry_run:
        _revise(settings, client, bundle.revision, log=log, done=done)
    if bundle.dashboard is not None and not dry_run:
        _dashboard(settings, client, bundle, log=log)
    return done


def _summary(bundle: Bundle) -> str:
    return (
        f"{len(bundle.store)} sample(s), {len(bundle.proposals)} proposal(s), "
        f"{len(bundle.comments)} comment(s), {len(bundle.closes)} close(s), "
        f"{len(bundle.reverts)} revert(s), {'a' if bundle.revision else 'no'} revision"
    )


def _store(
    settings: Settings,
    client: GitHubClient,
    bundle: Bundle,
    *,
    dry_run: bool,
    log: Log,
    done: Published,
) -> None:
    """The bundle's samples, with the backfill's state (its cursor and ETags, written in the
    same commit), and its bullet-ledger entries, merged into the data branch."""
    if bundle.plan == "pr-fork":
        log("publish: a fork's pull request: its evidence is not stored by this run")
        return
    branch = settings.config.store.branch
    kept = bundle.samples_of(bundle.store)
    if kept or bundle.backfill is not None:
        store = open_ledger(settings.root)
        if bundle.backfill is not None:
            store.save_state(bundle.backfill.merged(store.state()))
        keep_samples(store, kept, client, branch, push=not dry_run, log=log)
        done.did.append(f"stored {len(kept)} sample(s)")
    if bundle.bullets:
        sync_bullets(settings.root, list(bundle.bullets), client, branch, push=not dry_run,
                     log=log)  # fmt: skip


def _close(settings: Settings, client: GitHubClient, number: int, *, log: Log) -> None:
    """Close ``number`` only when it is one of the bot's own proposals."""
    targets = tuple(t.name for t in settings.config.targets)
    if own_target(client.pull_head(number), targets) is None:
        log(f"publish: #{number} is not one of prompt-trainer's pull requests: not closed")
        return
    client.close_pull(number)


def _propose(
    settings: Settings,
    client: GitHubClient,
    bundle: Bundle,
    intent: ProposalIntent,
    evaluation: Evaluation | None,
    *,
    dry_run: bool,
    log: Log,
    done: Published,
) -> None:
    """One bundled candidate: the evaluate job's results added, every check again, then the
    pull request (or the reasons it is not proposed)."""
    candidate, name = intent.candidate, intent.candidate.target
    target = _target(settings, name, done)
    if target is None:
        return
    result = evaluation.of(candidate) if evaluation else None
    if result is not None:
        update = {"eval_command": result.eval_command, "replay": result.replay}
        candidate = candidate.model_copy(update=update)
    current = load_prompt_set(target, LocalSource(settings.root))
    checked = evaluate.candidate_check(settings, target, candidate, current=current,
                                       samples=bundle.samples_of(intent.samples),
                                       shown=intent.shown)  # fmt: skip
    if checked.problems:
        _refuse(name, checked.problems, log=log, done=done)
        return
    body = intent.body
    if result is not None:
        view = ProposalView(candidate=candidate, current=intent.current, samples=[], model="")
        body = with_evaluation(body, view)
    draft = tuple(dict.fromkeys((*intent.draft, *checked.draft)))
    opened = Opened(candidate, target, current, title=intent.title, body=body, draft=draft)
    _open(client, opened, labels=settings.config.pull_request.labels, dry_run=dry_run, log=log,
          done=done)  # fmt: skip


def _propose_searched(
    settings: Settings,
    client: GitHubClient,
    bundle: Bundle,
    intent: SearchIntent,
    evaluation: Evaluation | None,
    *,
    dry_run: bool,
    log: Log,
    done: Published,
) -> None:
    """A target whose search ran in the evaluate job: its candidate, outside data, rebuilt and
    checked again (``loop.searched``, then every check a prepared candidate passes), then
    opened as a draft whose body the publish job renders."""
    name = intent.target
    target = _target(settings, name, done)
    if target is None:
        return
    found = evaluation.searched_of(name) if evaluation else None
    if found is None or found.candidate is None:
        said = found.not_run if found else "the evaluate job gave no result for it"
        why = f"GEPA's replay-scored search in the evaluate job gave no candidate: {said}"
        log(f"publish: {name}: {' '.join(why.split())[:1_000]}")
        done.skipped[name] = " ".join(why.split())[:1_000]
        return
    current = load_prompt_set(target, LocalSource(settings.root))
    training = settings.config.training
    made = rebuilt(intent, found, bundle=bundle, current=current,
                   threshold=training.rejected_evidence_threshold)  # fmt: skip
    checked = evaluate.candidate_check(settings, target, made.candidate, current=current,
                                       samples=bundle.samples_of(intent.guarded),
                                       shown=intent.shown)  # fmt: skip
    problems = (*made.problems, *checked.problems)
    if problems:
        _refuse(name, problems, log=log, done=done)
        return
    draft = tuple(dict.fromkeys((DRAFT, *held_out_reason(made.candidate), *checked.draft)))
    title, body = rendered(settings, made, current, draft=draft)
    opened = Opened(made.candidate, target, current, title=title, body=body, draft=draft)
    _open(client, opened, labels=settings.config.pull_request.labels, dry_run=dry_run, log=log,
          done=done)  # fmt: skip


def _target(settings: Settings, name: str, done: Published) -> Target | None:
    target = next((t for t in settings.config.targets if t.name == name), None)
    if target is None:
        done.refused[name] = (f"no target {name!r} in this job's configuration",)
    return target


def _refuse(name: str, problems: tuple[str, ...], *, log: Log, done: Published) -> None:
    log(f"publish: {name} not proposed: {'; '.join(problems)}")
    done.did.append(f"{name}: not proposed: {'; '.join(problems)}")
    done.refused[name] = problems
    done.proposals.append(Proposal(name, "rejected", reason="; ".join(problems)))


@dataclass(frozen=True)
class Opened:
    """A checked candidate and what its pull request shows."""

    candidate: Candidate
    target: Target
    current: PromptSet
    title: str
    body: str
    draft: tuple[str, ...]


def _open(
    client: GitHubClient,
    opened: Opened,
    *,
    labels: tuple[str, ...],
    dry_run: bool,
    log: Log,
    done: Published,
) -> None:
    """Open (or update) the candidate's pull request, as a draft when it has reasons to."""
    candidate, name = opened.candidate, opened.candidate.target
    proposal = propose_candidate(
        client, candidate, title=opened.title, body=opened.body,
        current_version=opened.current.version, folder=None, problems=(), dry_run=dry_run,
        labels=labels, prompts=opened.target, log=log, draft=opened.draft,
    )  # fmt: skip
    if opened.draft:
        done.drafts[name] = opened.draft
    done.proposals.append(proposal)
    done.candidates.append(candidate)
    done.bodies[name] = opened.body
    done.did.append(f"{name}: {proposal.operation}")


def _revise(
    settings: Settings, client: GitHubClient, intent: RevisionIntent, *, log: Log, done: Published
) -> None:
    """A bundled revision, on the bot's own PR of that target, checked again, then pushed."""
    targets = tuple(t.name for t in settings.config.targets)
    if own_target(client.pull_head(intent.number), targets) != intent.target:
        log(f"publish: #{intent.number} is not prompt-trainer's PR of {intent.target}: refused")
        return
    problem = _paths_problem(settings, intent.target, intent.files)
    if problem is None:
        proposed = proposed_at(settings, client, intent.target, intent.head)
        files = {f.path: f.content for f in proposed.files} | dict(intent.files)
        refused = revision_problems(settings, client, intent.target, files)
        problem = "; ".join(refused) or None
    if problem:
        log(f"publish: the revision of #{intent.number} is refused: {problem}")
        done.refused[intent.target] = (problem,)
        return
    response = apply_revision(settings, client, intent, log=log)
    done.did.append(f"review loop: {response.action}")


def _paths_problem(
    settings: Settings, target_name: str, files: Mapping[str, str | None]
) -> str | None:
    """Why ``files`` (their paths) are not all prompt files of the target: its main file or a
    file in its subagents directory, relative, without ``..``."""
    target = next((t for t in settings.config.targets if t.name == target_name), None)
    if target is None:
        return f"no target {target_name!r} in this job's configuration"
    folder = PurePosixPath(target.subagents) if target.subagents else None
    for path in files:
        pure = PurePosixPath(path)
        inside = folder is not None and pure.parent == folder and pure.suffix == ".md"
        if pure.is_absolute() or ".." in pure.parts or (path != target.main and not inside):
            return f"{path!r} is not a prompt file of {target_name}"
    return None


def _dashboard(settings: Settings, client: GitHubClient, bundle: Bundle, *, log: Log) -> None:
    """The bundle's dashboard body, its open proposals filled in, on the bot's own dashboard
    issue (found again by its marker; the bundle's number is not trusted)."""
    intent = bundle.dashboard
    if intent is None or not settings.config.dashboard.enabled:
        return
    options = settings.config.dashboard
    number, _ = dashboard.read(client, label=options.label)
    targets = [t.name for t in settings.config.targets]
    view = dashboard.DashboardView(
        repository=client.info().full_name, when=datetime.now(UTC), event="publish",
        targets=targets, proposals=dashboard.open_proposals(client, targets),
        server_url=settings.env.github_server_url,
    )  # fmt: skip
    body = dashboard.fill_proposals(intent.body, view)
    dashboard.publish(client, body, number=number, title=options.title, label=options.label,
                      log=log)  # fmt: skip
