"""Evaluate stage: guardrails a candidate must pass before anything is proposed.

Checks what can be checked without another LLM call: a non-empty main prompt, valid subagent
frontmatter with unique kebab-case names, at most ``max_subagents`` subagents, a size limit, and
no secrets. A failing candidate is reported with its reasons and never proposed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prompt_trainer.models import Candidate, PromptSet
from prompt_trainer.redact import redact
from prompt_trainer.settings import Target
from prompt_trainer.targets import split_frontmatter

KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_FILE_CHARS = 100_000


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate may be proposed, and if not, why."""

    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def check_candidate(candidate: Candidate, current: PromptSet, target: Target) -> GateResult:
    """Run every guardrail; collect all problems rather than stopping at the first."""
    problems: list[str] = []
    main = next((f for f in candidate.files if f.path == current.main.path), None)
    if main is None or not main.content.strip():
        problems.append(f"the candidate main prompt {current.main.path} is empty")
    problems += _subagent_problems(candidate, current, target)
    for file in candidate.files:
        if len(file.content) > MAX_FILE_CHARS:
            problems.append(
                f"{file.path} has {len(file.content)} characters (limit {MAX_FILE_CHARS})"
            )
        if redact(file.content) != file.content or "[REDACTED:" in file.content:
            problems.append(f"{file.path} contains a secret or a redaction marker")
    return GateResult(problems=tuple(problems))


def _subagent_problems(candidate: Candidate, current: PromptSet, target: Target) -> list[str]:
    main_path = current.main.path
    names: list[str] = []
    problems: list[str] = []
    for file in candidate.files:
        if file.path == main_path:
            continue
        meta, _ = split_frontmatter(file.content)
        name = str(meta.get("name", ""))
        if not name or not meta.get("description"):
            problems.append(f"{file.path}: frontmatter needs a name and a description")
        elif not KEBAB.match(name):
            problems.append(f"{file.path}: subagent name {name!r} is not kebab-case")
        names.append(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"subagent names are not unique: {', '.join(repeated)}")
    if len(names) > target.max_subagents:
        problems.append(f"{len(names)} subagents, more than max_subagents={target.max_subagents}")
    return problems
