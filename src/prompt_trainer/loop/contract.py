"""The run's contract: what it is asked (``RunOptions``) and what it returns.

``RunOptions`` is what the command line asked for, with the run's record (``loop.runs``) and, in
the Action's ``prepare`` job, the recorder of the writes it hands on (``loop.bundle``). The
pipeline's stages return values; ``pipeline.propose_target`` turns one target's into a
``TargetResult`` (skipped, blocked, or trained with its candidate, body, guardrail problems and
proposal), and ``RunOutcome.of`` builds the run's outcome once from those and the samples
collected, for the CLI (print, step summary, ``$GITHUB_OUTPUT``, ``outcome.json``) and the
dashboard. All three are frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_trainer.loop.runs import RunRecord
from prompt_trainer.models import Candidate, Sample, Skipped
from prompt_trainer.propose import Proposal

if TYPE_CHECKING:
    from prompt_trainer.loop.bundle import Recorder


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked for."""

    repo: str | None = None
    pr: int | None = None
    local: Path | None = None
    dry_run: bool = False
    model: str | None = None
    api_base: str | None = None
    evidence: tuple[Path, ...] = ()
    strategy: str | None = None
    target: str | None = None
    #: This run's directory (``loop.runs``): steps done, candidates, bodies; None keeps no record.
    run: RunRecord | None = None
    #: Why this run may not replay (``training.gate: replay``); empty: it may.
    replay_skipped: str = ""
    #: The Action's ``prepare`` job: every write to GitHub is recorded here for the ``publish``
    #: job instead of made, and no configured command runs (``loop.bundle``); None: write.
    bundle: Recorder | None = None


@dataclass(frozen=True)
class TargetResult:
    """What the loop did for one target: trained or not (``skipped``, ``blocked``), and then the
    candidate, its body, the guardrail problems and the proposal."""

    target: str
    skipped: str = ""
    blocked: str = ""
    candidate: Candidate | None = None
    body: str = ""
    gate_problems: tuple[str, ...] = ()
    proposal: Proposal | None = None
    #: Why the candidate was opened as a draft (an unreadable evaluation, no edit shown to
    #: work under ``training.require_improvement: draft``).
    draft: tuple[str, ...] = ()

    @property
    def why_not(self) -> str:
        """Why the target was not proposed this run (empty when it was), for the dashboard."""
        if self.gate_problems:
            return f"candidate rejected by guardrails: {'; '.join(self.gate_problems)}"
        return self.skipped or self.blocked


@dataclass(frozen=True)
class RunOutcome:
    """What the run did, for the CLI to print and summarize (``of`` builds it from results)."""

    samples: Sequence[Sample] = ()
    proposals: Sequence[Proposal] = ()
    bodies: dict[str, str] = field(default_factory=dict)
    candidates: Sequence[Candidate] = ()
    gate_failures: dict[str, tuple[str, ...]] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    message: str = ""
    #: Why a target was not trained this run (no key, too few samples, ...), for the dashboard.
    skipped_targets: dict[str, str] = field(default_factory=dict)
    #: Why a target's candidate was opened as a draft.
    drafts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def skipped(self) -> list[Skipped]:
        return [sk for s in self.samples for sk in s.skipped]

    @classmethod
    def of(
        cls, results: Sequence[TargetResult], *, samples: Sequence[Sample] = (), message: str = ""
    ) -> RunOutcome:
        return cls(
            samples=tuple(samples),
            proposals=tuple(r.proposal for r in results if r.proposal),
            bodies={r.target: r.body for r in results if r.candidate},
            candidates=tuple(r.candidate for r in results if r.candidate),
            gate_failures={r.target: r.gate_problems for r in results if r.gate_problems},
            blocked={r.target: r.blocked for r in results if r.blocked},
            message=message,
            skipped_targets={r.target: r.why_not for r in results if r.why_not},
            drafts={r.target: r.draft for r in results if r.draft and r.proposal},
        )
