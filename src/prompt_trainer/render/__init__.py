"""Render stage: the pull-request body and title, from Jinja2 templates fed one view object.

The only module that imports Jinja2. Templates live in ``render/templates/`` and run with
``StrictUndefined``. Text written by others (test messages, review comments, model output) goes
through the ``quote``/``inline`` filters, which neutralize @mentions and fences. The body is kept
under GitHub's 65,536-character limit by dropping the least important parts first.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field

import jinja2

from prompt_trainer.models import Candidate, Feedback, PromptSet, Sample, Skipped, TestCase

BODY_LIMIT = 65_536
STATE_MARKER = "prompt-trainer-state"


@dataclass(frozen=True)
class FileChange:
    """How one file differs between the current prompts and the candidate."""

    path: str
    status: str
    added: int
    removed: int
    diff: str


@dataclass(frozen=True)
class ProposalView:
    """Everything the PR body template shows."""

    candidate: Candidate
    current: PromptSet
    samples: list[Sample]
    model: str
    skipped: list[Skipped] = field(default_factory=list)
    gate_problems: tuple[str, ...] = ()

    @property
    def changes(self) -> list[FileChange]:
        return file_changes(self.current, self.candidate)

    @property
    def failing_tests(self) -> list[tuple[Sample, TestCase]]:
        return [(s, case) for s in self.samples for run in s.test_runs for case in run.problems]

    @property
    def trusted_feedback(self) -> list[tuple[Sample, Feedback]]:
        return [(s, f) for s in self.samples for f in s.feedback if f.trusted and f.body.strip()]

    @staticmethod
    def counts(sample: Sample) -> dict[str, int]:
        """Test totals of a sample across its reports, plus feedback and trace counts."""
        runs = sample.test_runs
        totals = {
            st: sum(r.count(st) for r in runs) for st in ("passed", "failed", "error", "skipped")
        }
        totals["tests"] = sum(r.tests for r in runs)
        totals["trusted_feedback"] = sum(1 for f in sample.feedback if f.trusted)
        totals["traces"] = len(sample.traces)
        return totals

    @property
    def state_json(self) -> str:
        state = {
            "target": self.candidate.target,
            "fingerprint": self.candidate.fingerprint,
            "base_version": self.candidate.base_version,
            "sample_ids": list(self.candidate.sample_ids),
        }
        return json.dumps(state, sort_keys=True).replace("--", "\\u002d\\u002d")


def file_changes(current: PromptSet, candidate: Candidate) -> list[FileChange]:
    """Changed files only, with line counts and a unified diff."""
    before = {f.path: f.content for f in current.files}
    changes = []
    for file in candidate.files:
        old = before.get(file.path)
        if old == file.content:
            continue
        diff = list(
            difflib.unified_diff(
                (old or "").splitlines(),
                file.content.splitlines(),
                f"a/{file.path}",
                f"b/{file.path}",
                lineterm="",
            )
        )
        added = sum(1 for d in diff if d.startswith("+") and not d.startswith("+++"))
        removed = sum(1 for d in diff if d.startswith("-") and not d.startswith("---"))
        status = "added" if old is None else "modified"
        changes.append(FileChange(file.path, status, added, removed, "\n".join(diff)))
    return changes


def neutralize(text: str) -> str:
    """Stop @mentions from notifying and fences from breaking out of quotes."""
    return text.replace("@", "@\u200b").replace("```", "`\u200b``")


def code(text: str) -> str:
    """Text for inside a fenced block: only a fence could break out (mentions do not ping)."""
    return text.replace("```", "`\u200b``")


def quote(text: str) -> str:
    """Render outside text as a markdown blockquote."""
    return "\n".join(f"> {line}" for line in neutralize(text).splitlines() or [""])


def inline(text: str, limit: int = 200) -> str:
    """A single line of outside text, capped, for tables and bullets."""
    line = " ".join(neutralize(text).split())
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return line.replace("|", "\\|")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("prompt_trainer.render", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - markdown, not HTML; outside text goes through filters
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(quote=quote, inline=inline, neutralize=neutralize, code=code)
    return env


def render_title(view: ProposalView) -> str:
    return f"prompt-trainer: improve {view.candidate.target} ({len(view.samples)} samples)"


def render_body(view: ProposalView) -> str:
    """The PR body, cut down (diffs first, then evidence details) to fit GitHub's limit."""
    template = _environment().get_template("pr_body.md.j2")
    for detail in ("full", "no_diffs", "minimal"):
        body = template.render(view=view, detail=detail, state_marker=STATE_MARKER)
        if len(body) <= BODY_LIMIT:
            return body
    marker = f"\n\n… (cut to fit GitHub's limit)\n\n<!-- {STATE_MARKER} {view.state_json} -->\n"
    return body[: BODY_LIMIT - len(marker)] + marker
