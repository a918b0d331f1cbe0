"""The bundle: what a read-only ``prepare`` job hands to the ``publish`` job that holds the write
token, and the ``evaluate`` job's results, as versioned JSON validated on every read.

On a hosted runner any process in a job can read that job's secrets (``/proc/<pid>/environ``,
passwordless sudo), so the work is split by where the secrets are (``docs/workflows.md``):

- ``prepare`` (read-only token, the trainer's LLM key): collects and parses the evidence, trains,
  judges, answers review comments; it runs no configured command and writes nothing to GitHub.
  Every write it would make is recorded instead (``Recorder``) and written as ``bundle.json``:
  the samples to store and, after a backfill, its state (``backfill.json``: the cursor where it
  stopped at the rate budget and the ETags of each PR's reads), which belongs on the data branch
  with them.
- ``evaluate`` (no token, no key; only when the configuration names a command): runs
  ``training.eval_command`` and the replay for each candidate of the bundle and writes
  ``evaluation.json``: results only, keyed by the candidate's content hash. For a target with
  ``training.gepa.metric: replay`` it runs GEPA's search itself (``SearchIntent``: the prepare
  job's plan), scored by replaying the agent, with the reflection model whose key
  ``training.eval_pass_env`` names, and returns its candidate (``Searched``): outside data that
  ``publish`` checks like any other (``loop.searched``) and opens only as a draft.
- ``publish`` (write token, no key): reads both files again through these models (schema,
  sizes), re-checks every candidate against its own configuration (``loop.publish``) and makes
  the writes. It runs no command, calls no model and parses no evidence itself.

The bundle's sha256 is a job output of ``prepare``, passed to ``evaluate`` and ``publish`` as the
``bundle-sha256`` input: an artifact can be replaced by any job of the run that reads the runner's
artifact token (the ``evaluate`` job's commands could), a job output cannot. ``evaluation.json``
carries the digest of the bundle it evaluated; it is read as outside data: only its results
(pass rates, replay runs and their reasons, escaped where the PR body shows them) are used.

Takes records from the run (``models``, ``memory``, ``render.state``); gives ``Bundle`` and
``Evaluation`` (frozen), ``write_bundle``/``read_bundle`` and their evaluation counterparts.
The JSON Schema is ``schema/bundle.schema.json`` (``prompt-trainer schema --bundle``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prompt_trainer.backfill_state import BackfillState
from prompt_trainer.commandenv import SPLIT_JOBS, barred
from prompt_trainer.config_errors import describe_validation_error
from prompt_trainer.errors import ConfigError
from prompt_trainer.evaluate import names_command
from prompt_trainer.memory import BulletEntry
from prompt_trainer.models import (
    Candidate,
    EvalCommandResult,
    PromptSet,
    Rejection,
    ReplayResult,
    Sample,
)
from prompt_trainer.redact import mask_held
from prompt_trainer.render import ProposalView
from prompt_trainer.render.state import ProposalState
from prompt_trainer.settings import Settings
from prompt_trainer.workdir import atomic_write

BUNDLE_FILE = "bundle.json"
EVALUATION_FILE = "evaluation.json"
BUNDLE_VERSION = 1
#: Bytes a bundle may have on disk (read in one piece, after this check).
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
MAX_EVALUATION_BYTES = 16 * 1024 * 1024
#: GitHub's limit on a PR body, an issue body and a comment.
MAX_BODY = 65_536
SHA256 = r"^[0-9a-f]{64}$"
PartT = TypeVar("PartT", bound=BaseModel)
GIT_SHA = r"^[0-9a-f]{40}$"
#: A backfill's state may speak of this many PRs, each read with at most ``MAX_READS`` ETags.
MAX_STATE_PULLS = 100_000
MAX_READS = 200
#: Characters of an ETag, a read's path, a run's fingerprint or the cursor's reason.
MAX_STATE_TEXT = 2_000


class Part(BaseModel):
    """A part of a bundle: frozen, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class CommentIntent(Part):
    """A comment the bot posts once (``GitHubClient.comment_once``: ``key`` makes it once)."""

    number: int = Field(gt=0)
    body: str = Field(min_length=1, max_length=MAX_BODY)
    key: str = Field(min_length=1, max_length=300)


class ProposalIntent(Part):
    """A candidate to propose: its files and records, the title and the body rendered by the
    prepare job (the state block is written again by ``publish``), and the ids of the bundle's
    samples it was trained and judged on (whose outside text the copy guard compares)."""

    candidate: Candidate
    current: PromptSet
    title: str = Field(min_length=1, max_length=256, pattern=r"^[^\r\n]*$")
    body: str = Field(min_length=1, max_length=MAX_BODY)
    samples: tuple[str, ...] = Field(default=(), max_length=10_000)
    #: Other outside text the model read beside those samples (``Memory.outside``: the words of
    #: reviewers who rejected earlier proposals, ...), as (label, text) for the copy guard.
    shown: tuple[tuple[str, str], ...] = Field(default=(), max_length=10_000)
    #: The ``evaluate`` job must run the configured commands on it before it may be proposed.
    evaluate: bool = False
    #: Why the prepare job would open it as a draft (``effects.held_out_gate``: an unreadable
    #: evaluation, no edit shown to work under ``training.require_improvement: draft``); the
    #: publish job opens it as a draft for these reasons and for its own check's.
    draft: tuple[str, ...] = Field(default=(), max_length=20)


class SearchIntent(Part):
    """A target whose GEPA search the evaluate job runs, scored by replaying the agent
    (``training.gepa.metric: replay`` on ``workflow_dispatch`` or ``schedule``): the prepare
    job's plan (``train.gepa_remote.SearchPlan``) as ids of the bundle's samples, the prompts it
    starts from, and what the checks of its candidate read (``loop.searched``)."""

    target: str
    current: PromptSet
    #: Every sample of the current prompts the plan was made from, and its parts.
    samples: tuple[str, ...] = Field(max_length=10_000)
    training: tuple[str, ...] = Field(max_length=10_000)
    validation: tuple[str, ...] = Field(default=(), max_length=100)
    #: Never shown to the search: replayed with its candidate (the held-out verdict).
    held_out: tuple[str, ...] = Field(default=(), max_length=10_000)
    earlier: tuple[str, ...] = Field(default=(), max_length=10_000)
    #: The supported failure clusters the plan found (the evaluate job must find the same).
    clusters: tuple[str, ...] = Field(default=(), max_length=1_000)
    #: Edits people rejected (the search does not repeat one without new evidence).
    rejected: tuple[Rejection, ...] = Field(default=(), max_length=1_000)
    #: The samples whose outside text the copy guard reads (with those the history quotes),
    #: and the other outside text shown beside them (``Memory.outside``).
    guarded: tuple[str, ...] = Field(default=(), max_length=10_000)
    shown: tuple[tuple[str, str], ...] = Field(default=(), max_length=10_000)
    #: The plan's notes: the failure clusters, supported or left out and why.
    notes: tuple[str, ...] = Field(default=(), max_length=100)


class RevertIntent(Part):
    """A revert PR: restore ``files`` (None deletes a path) on ``prompt-trainer-revert/<target>``,
    because the merged proposal ``merged_pull`` made the metrics significantly worse."""

    target: str
    merged_pull: int = Field(gt=0)
    files: dict[str, str | None] = Field(max_length=200)
    message: str = Field(max_length=2_000)
    title: str = Field(min_length=1, max_length=256, pattern=r"^[^\r\n]*$")
    body: str = Field(min_length=1, max_length=MAX_BODY)


class Answer(Part):
    """What a revision's reply says about one review comment (escaped where it is rendered)."""

    author: str = Field(max_length=200)
    url: str | None = Field(default=None, max_length=2_000)
    reply: str = Field(default="", max_length=4_000)


class NotApplied(Part):
    """An edit the revision's model asked for that was not applied, and why."""

    op: str = Field(max_length=100)
    text: str = Field(max_length=4_000)
    why: str = Field(max_length=2_000)


class RevisionIntent(Part):
    """A revision of the bot's PR ``number`` after review: ``files`` committed on top of
    ``head`` (a fast-forward, never a force-push), the body's state block replaced by ``state``
    (its commit filled in by ``publish``), and one reply for the comments ``answered``."""

    number: int = Field(gt=0)
    target: str
    head: str = Field(pattern=GIT_SHA)
    files: dict[str, str] = Field(max_length=200)
    message: str = Field(max_length=20_000)
    state: ProposalState
    body: str = Field(max_length=MAX_BODY)
    answered: tuple[str, ...] = Field(max_length=500)
    answers: tuple[Answer, ...] = Field(max_length=500)
    not_applied: tuple[NotApplied, ...] = Field(default=(), max_length=500)


class DashboardIntent(Part):
    """The dashboard issue's new body (``number`` None: create it); its open-proposals section
    is a placeholder ``publish`` fills once the proposals are made."""

    number: int | None = Field(default=None, gt=0)
    title: str = Field(min_length=1, max_length=256)
    label: str = Field(min_length=1, max_length=50)
    body: str = Field(min_length=1, max_length=MAX_BODY)


class BundledOutcome(Part):
    """What the prepare job did, for the publish job's log, step summary and outputs."""

    message: str = Field(default="", max_length=20_000)
    did: tuple[str, ...] = Field(default=(), max_length=50)
    report_markdown: str = Field(default="", max_length=1_000_000)
    blocked: dict[str, str] = Field(default_factory=dict, max_length=100)
    skipped_targets: dict[str, str] = Field(default_factory=dict, max_length=100)
    gate_failures: dict[str, tuple[str, ...]] = Field(default_factory=dict, max_length=100)
    #: The prepare job stopped with this error (its diagnostics) after collecting: the publish
    #: job stores what was collected, then fails with it (``exit_code``) so the run shows red.
    failure: str = Field(default="", max_length=20_000)
    exit_code: int = Field(default=0, ge=0, le=9)


class Bundle(Part):
    """Everything a publish job may write for one run (``schema/bundle.schema.json``)."""

    format: Literal["prompt-trainer-bundle"] = "prompt-trainer-bundle"
    version: Literal[1] = 1
    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    event: str | None = None
    #: What the prepare job planned (``loop.action.Plan``): a fork's PR is stored by no one.
    plan: str
    created_at: datetime
    #: The configuration file the prepare job used (the default branch's on guarded events);
    #: the evaluate job, which holds no token to read it, runs its commands from this text.
    config: str = Field(max_length=1_000_000)
    samples: tuple[Sample, ...] = Field(default=(), max_length=10_000)
    #: Ids of ``samples`` to add to the ledger and the data branch (collected or reported now).
    store: tuple[str, ...] = Field(default=(), max_length=10_000)
    bullets: tuple[BulletEntry, ...] = Field(default=(), max_length=10_000)
    proposals: tuple[ProposalIntent, ...] = Field(default=(), max_length=100)
    #: Targets whose replay-scored GEPA search the evaluate job runs.
    searches: tuple[SearchIntent, ...] = Field(default=(), max_length=100)
    comments: tuple[CommentIntent, ...] = Field(default=(), max_length=500)
    closes: tuple[int, ...] = Field(default=(), max_length=100)
    reverts: tuple[RevertIntent, ...] = Field(default=(), max_length=100)
    revision: RevisionIntent | None = None
    dashboard: DashboardIntent | None = None
    #: The backfill's state after this run (``backfill.json``: its cursor, each PR's ETags),
    #: which the publish job writes to the data branch in the commit of the samples.
    backfill: BackfillState | None = None
    outcome: BundledOutcome = BundledOutcome()

    @field_validator("backfill")
    @classmethod
    def _bounded_state(cls, value: BackfillState | None) -> BackfillState | None:
        if value is not None and (problem := state_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("closes")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(n <= 0 for n in value):
            raise ValueError("pull request numbers are positive")
        return value

    @property
    def empty(self) -> bool:
        """Nothing to write (the event asked for nothing, or nothing was found)."""
        writes = (self.store, self.bullets, self.proposals, self.searches, self.comments,
                  self.closes, self.reverts)  # fmt: skip
        single = (self.revision, self.dashboard, self.backfill)
        return not any(writes) and all(w is None for w in single)

    @property
    def evaluate(self) -> bool:
        """Whether a candidate waits for the evaluate job's commands, or a search for it."""
        return any(p.evaluate for p in self.proposals) or bool(self.searches)

    def samples_of(self, ids: Iterable[str]) -> list[Sample]:
        """The bundle's samples with these ids, in the bundle's order."""
        wanted = set(ids)
        return [s for s in self.samples if s.id in wanted]


class CommandResult(Part):
    """The configured commands' results for one candidate (by its content hash)."""

    target: str
    fingerprint: str = Field(pattern=r"^[0-9a-f]{12}$")
    eval_command: EvalCommandResult | None = None
    replay: ReplayResult | None = None


class Searched(Part):
    """What the evaluate job's replay-scored search gave for one target (``SearchIntent``):
    its candidate, with the held-out replay and the commands' results, bound to its content
    hash, or why there is none. Outside data: ``loop.searched`` checks all of it again."""

    target: str
    fingerprint: str = Field(default="", pattern=r"^(?:[0-9a-f]{12})?$")
    candidate: Candidate | None = None
    not_run: str = Field(default="", max_length=4_000)


class Evaluation(Part):
    """What the evaluate job found, for the bundle whose sha256 is ``bundle_sha256``."""

    format: Literal["prompt-trainer-evaluation"] = "prompt-trainer-evaluation"
    version: Literal[1] = 1
    bundle_sha256: str = Field(pattern=SHA256)
    results: tuple[CommandResult, ...] = Field(default=(), max_length=100)
    searched: tuple[Searched, ...] = Field(default=(), max_length=100)

    def searched_of(self, target: str) -> Searched | None:
        """The replay-scored search's result for this target, if any (the first)."""
        return next((s for s in self.searched if s.target == target), None)

    def of(self, candidate: Candidate) -> CommandResult | None:
        """The result for this candidate (same target, same files), if any."""
        return next(
            (
                r
                for r in self.results
                if r.target == candidate.target and r.fingerprint == candidate.fingerprint
            ),
            None,
        )


@dataclass
class Recorder:
    """The writes a prepare run would make, collected in order (the one mutable object of a
    prepare run besides its run record); ``bundle`` freezes them."""

    samples: dict[str, Sample] = field(default_factory=dict)
    store: list[str] = field(default_factory=list)
    bullets: list[BulletEntry] = field(default_factory=list)
    proposals: list[ProposalIntent] = field(default_factory=list)
    searches: list[SearchIntent] = field(default_factory=list)
    comments: list[CommentIntent] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    reverts: list[RevertIntent] = field(default_factory=list)
    revision: RevisionIntent | None = None
    dashboard: DashboardIntent | None = None
    backfill: BackfillState | None = None

    def keep(self, samples: Iterable[Sample], *, store: bool) -> None:
        """Samples the bundle carries; with ``store``, for the data branch too."""
        for sample in samples:
            self.samples[sample.id] = sample
            if store and sample.id not in self.store:
                self.store.append(sample.id)

    def comment(self, number: int, body: str, *, key: str) -> bool:
        """Record a ``comment_once``; True, as the comment is (to be) posted."""
        self.comments.append(CommentIntent(number=number, body=body, key=key))
        return True

    def propose(
        self,
        view: ProposalView,
        *,
        title: str,
        body: str,
        guarded: list[Sample],
        shown: tuple[tuple[str, str], ...],
        evaluate: bool,
        draft: tuple[str, ...] = (),
    ) -> None:
        """Record a candidate to propose, with the ``guarded`` samples and the other ``shown``
        outside text its copy check compares, whether the ``evaluate`` job must run the
        commands on it, and why it is a ``draft``."""
        self.keep(guarded, store=False)
        intent = ProposalIntent(
            candidate=view.candidate, current=view.current, title=title, body=body,
            samples=tuple(s.id for s in guarded), shown=shown, evaluate=evaluate, draft=draft,
        )  # fmt: skip
        self.proposals.append(intent)

    def search(self, intent: SearchIntent, samples: Iterable[Sample]) -> None:
        """Record a search for the evaluate job, with the ``samples`` its ids name."""
        self.keep(samples, store=False)
        self.searches.append(intent)

    def bundle(self, **fields: Any) -> Bundle:
        """The frozen bundle: what was recorded plus ``fields`` (repository, plan, config ...)."""
        return Bundle(
            samples=tuple(self.samples.values()),
            store=tuple(self.store),
            bullets=tuple(self.bullets),
            proposals=tuple(self.proposals),
            searches=tuple(self.searches),
            comments=tuple(self.comments),
            closes=tuple(self.closes),
            reverts=tuple(self.reverts),
            revision=self.revision,
            dashboard=self.dashboard,
            backfill=self.backfill,
            created_at=datetime.now(UTC),
            **fields,
        )


def state_problem(state: BackfillState) -> str:
    """Why a backfill's state is too large to carry ("" when it is not): its PRs, each PR's
    reads and runs, and every text in it are bounded."""
    if len(state.pulls) > MAX_STATE_PULLS:
        return (
            f"the backfill's state speaks of {len(state.pulls):,} PRs (at most {MAX_STATE_PULLS:,})"
        )
    texts = [state.cursor.reason] if state.cursor is not None else []
    for number, pull in state.pulls.items():
        if not number.isdigit() or len(pull.etags) > MAX_READS or len(pull.runs) > MAX_READS:
            return f"the backfill's state of PR {number[:20]!r} is not a PR's reads"
        texts += [*pull.etags, *pull.etags.values(), *pull.runs, pull.listing]
    if any(len(t) > MAX_STATE_TEXT for t in texts):
        return f"the backfill's state holds a text of more than {MAX_STATE_TEXT:,} characters"
    return ""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_bundle(folder: Path, bundle: Bundle) -> str:
    """Write ``folder/bundle.json`` and return its sha256 (the ``bundle-sha256`` output)."""
    text = bundle.model_dump_json()
    if len(text.encode("utf-8")) > MAX_BUNDLE_BYTES:
        raise ConfigError(
            f"the bundle would have {len(text):,} characters (limit {MAX_BUNDLE_BYTES:,})",
            fix="collect fewer PRs per run (backfill-days) or lower training.min_samples",
        )
    atomic_write(folder / BUNDLE_FILE, text)
    return digest(text.encode("utf-8"))


def read_bundle(folder: Path, *, sha256: str) -> Bundle:
    """``folder/bundle.json``, checked against ``sha256`` (the prepare job's output) before it
    is parsed, then validated; any mismatch or invalid field is a ``ConfigError``."""
    data = _read(folder / BUNDLE_FILE, MAX_BUNDLE_BYTES, what="bundle")
    if not sha256:
        raise ConfigError(
            "no bundle-sha256 given: the bundle cannot be checked",
            fix="pass the prepare job's bundle-sha256 output as the bundle-sha256 input "
            "(docs/workflows.md)",
        )
    if digest(data) != sha256.lower():
        raise ConfigError(
            f"{folder / BUNDLE_FILE} is not the bundle the prepare job wrote (its sha256 is "
            f"{digest(data)}, the prepare job's bundle-sha256 output {sha256})",
            fix="something replaced the artifact after the prepare job: re-run the workflow",
        )
    return _validate(Bundle, data, source=str(folder / BUNDLE_FILE))


def write_evaluation(folder: Path, evaluation: Evaluation) -> None:
    """``folder/evaluation.json``, every value this job holds masked (the agent's key, which
    only this job may hold: the publish job could not mask it in what it shows)."""
    atomic_write(folder / EVALUATION_FILE, mask_held(evaluation.model_dump_json()))


def read_evaluation(folder: Path, *, sha256: str) -> Evaluation | None:
    """``folder/evaluation.json`` when there is one (None otherwise); an evaluation of another
    bundle is refused."""
    path = folder / EVALUATION_FILE
    if not path.is_file():
        return None
    found = _validate(Evaluation, _read(path, MAX_EVALUATION_BYTES, what="evaluation"),
                      source=str(path))  # fmt: skip
    if found.bundle_sha256 != sha256.lower():
        raise ConfigError(
            f"{path} evaluated another bundle ({found.bundle_sha256[:12]}, this one is "
            f"{sha256[:12]})",
            fix="re-run the workflow: the evaluate job's artifact is not this run's",
        )
    return found


def _read(path: Path, cap: int, *, what: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > cap:
            raise ConfigError(f"{path} has {size:,} bytes; a {what} may have {cap:,} bytes at most")
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"no {what} at {path}",
            fix="the prepare job must run first and upload it (docs/workflows.md)",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc}") from None


def _validate(model: type[PartT], data: bytes, *, source: str) -> PartT:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source=source)) from None


def bundle_schema() -> dict[str, Any]:
    """The JSON Schema of ``bundle.json`` and ``evaluation.json`` (committed as
    ``schema/bundle.schema.json``)."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "prompt-trainer bundle (bundle.json) and evaluation (evaluation.json)",
        "oneOf": [{"$ref": "#/$defs/Bundle"}, {"$ref": "#/$defs/Evaluation"}],
        "$defs": {},
    }
    for model in (Bundle, Evaluation):
        part = model.model_json_schema(ref_template="#/$defs/{model}")
        schema["$defs"].update(part.pop("$defs", {}))
        schema["$defs"][model.__name__] = part
    ordered: dict[str, Any] = json.loads(json.dumps(schema, sort_keys=True))
    return ordered


def commands_barred(settings: Settings) -> str:
    """Why this process may run no configured command (``training.eval_command``, the replay
    and its ``setup_command``, GEPA's replay metric), or "" when it may: on a CI runner
    (``GITHUB_ACTIONS`` or ``CI`` true), a process that holds a secret (``commandenv.held_secrets``:
    the token, ``GH_TOKEN``, a PAT, a provider key, ``AWS_SECRET_ACCESS_KEY``, the runner's
    ``ACTIONS_*_TOKEN``s; not those ``training.eval_pass_env`` passes on purpose) runs none, dry
    run or not, since the command could read them from ``/proc/$PPID/environ``. The Action's
    ``evaluate`` job holds none and is the place for them.

    Outside a runner (a developer's shell) the commands run: the token and the keys there are
    the shell's own, which every process the user starts can read already, so a separate
    process would protect nothing. On a runner the jobs are what keeps secrets apart.

    A single job that would write refuses before training (``refuse_commands``); a dry run, or
    one that writes nothing, trains and shows its candidate with the command "not run" and why,
    and the candidate is not proposed: someone trying ``dry-run: true`` first wants to see what
    the run would train and what to change, not an error before any of it. Whatever the caller,
    ``Settings.command_env`` refuses the same way (every configured command gets its
    environment there)."""
    why = barred(settings.env.variables, passed=settings.config.training.eval_pass_env)
    return f"{why}; {SPLIT_JOBS}" if why else ""


def refuse_commands(settings: Settings, *, writes: bool) -> None:
    """A run that writes to GitHub itself never runs a configured command: the command could
    read the token (and the LLM key) from this process (``/proc/<pid>/environ``). Such a run
    stops before training (after its evidence was stored) and says how to split the jobs."""
    named = names_command(settings)
    if named is None or not writes:
        return
    raise ConfigError(
        f"the configuration names a command ({named}), and this run writes to GitHub with its "
        "token: the job that holds the write token never runs a configured command (any "
        "process in a job can read that job's secrets). This run's evidence is stored; "
        "nothing was trained",
        fix="split the workflow into prepare, evaluate and publish jobs (the Action's mode "
        "input; docs/workflows.md, 'Three jobs when you configure a command'), or remove "
        f"{named.split(':')[0]} from the configuration",
    )
