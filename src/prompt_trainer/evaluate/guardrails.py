"""Evaluate stage: the guardrails a candidate must pass before anything is proposed.

Takes a candidate, the current prompt set, the target, the samples and the training limits;
returns a ``GateResult`` (every problem found, and why the candidate would be a draft).
Guardrails check what can be checked without another LLM call: a non-empty main prompt, valid
subagent frontmatter with unique kebab-case names, at most ``max_subagents`` subagents, a size
limit in characters and estimated tokens (about four characters each), growth within a
percentage of the current size (growth under ``GROWTH_FLOOR`` characters always passes), no
secret in the text the candidate adds, no copy of outside text (the new text may not share a
run of ``SHINGLE`` words, compared lowercased and without punctuation, with any string the
model was shown that was written outside the trusted circle: ``outside.outside_texts`` walks
every field of the evidence views and the samples, and the lines shown beside them), no URL or
download piped to a shell taken from that text, and every line marked ``prompt-trainer: keep``
in the current files still present, unchanged. New subagent files must sit at
``subagent_path`` under a kebab-case name; other files keep their frontmatter byte for byte
(``frontmatter_problems``). A failing candidate is reported with its reasons
and never proposed; the review loop runs the same check on a revision before pushing it.
``check_candidate`` adds what the held-out evaluation says
(``effects.held_out_gate``: an edit shown not to work blocks or drafts under
``training.require_improvement``, an unreadable evaluation drafts).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from prompt_trainer.evaluate.effects import held_out_gate
from prompt_trainer.models import Candidate, PromptSet, Sample
from prompt_trainer.outside import Labelled, outside_texts
from prompt_trainer.prompt_kinds import REQUIRED_KEYS, frontmatter, frontmatter_block, kind_of
from prompt_trainer.redact import redact
from prompt_trainer.settings import Target, TrainingOptions
from prompt_trainer.targets import (
    KEBAB_NAME,
    split_frontmatter,
    subagent_name_problem,
    subagent_path,
)

KEBAB = KEBAB_NAME
KEEP_MARKER = "prompt-trainer: keep"
#: Words in a row the candidate's new text may not share with any outside text.
SHINGLE = 8
WORD = re.compile(r"[^\W_]+")
URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`]+", re.I)
#: Invisible format characters (soft hyphen, zero-width spaces and joiners, bidi marks, word
#: joiner, byte-order mark, tag characters), deleted before words are compared.
INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\U000e0000-\U000e007f]"
)
#: A download piped or handed to an interpreter: ``curl … | sh``, ``wget -O- … | sudo bash``,
#: ``bash <(curl …)``, ``sh -c "$(wget …)"``, ``iwr … | iex``.
SHELL_PIPE = re.compile(
    r"(?i)\b(?:curl|wget|fetch|iwr|irm|invoke-webrequest|invoke-restmethod)\b[^|\n]{0,300}\|"
    r"\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:ba|z|k|da|c|tc|fi)?sh\b"
    r"|\b(?:curl|wget|iwr|irm)\b[^|\n]{0,300}\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node|iex)\b"
    r"|\b(?:ba|z|k)?sh\s+(?:-c\s+)?[\"']?(?:<\(|\$\()\s*(?:curl|wget)\b"
)
#: Growth below this many characters always passes: a 100-character rules file may double.
GROWTH_FLOOR = 1_000


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate may be proposed, and if not, why; ``draft``: why it is opened as
    a draft pull request (an unreadable evaluation, ``require_improvement: draft``)."""

    problems: tuple[str, ...]
    draft: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems


def check_candidate(
    candidate: Candidate,
    current: PromptSet,
    target: Target,
    *,
    samples: list[Sample] | None = None,
    shown: Sequence[Labelled] = (),
    limits: TrainingOptions | None = None,
) -> GateResult:
    """Run every guardrail; collect all problems rather than stopping at the first. The copy
    guard reads every outside text of ``samples`` and ``shown`` (``outside.outside_texts``)."""
    limits = limits or TrainingOptions()
    problems: list[str] = []
    main = next((f for f in candidate.files if f.path == current.main.path), None)
    if main is None or not main.content.strip():
        problems.append(f"the candidate main prompt {current.main.path} is empty")
    problems += _subagent_problems(candidate, current, target)
    problems += frontmatter_problems(candidate, current, target)
    added = new_text(candidate, current)
    for file in candidate.files:
        if len(file.content) > limits.max_prompt_chars:
            problems.append(
                f"{file.path} has {len(file.content)} characters "
                f"(limit training.max_prompt_chars={limits.max_prompt_chars})"
            )
        text = added.get(file.path, "")
        if redact(text) != text or "[REDACTED:" in text:
            problems.append(f"{file.path} contains a secret or a redaction marker")
    problems += _size_problems(candidate, current, limits)
    problems += _keep_problems(candidate, current)
    outside = outside_texts(samples or [], shown=shown)
    problems += _copy_problems(candidate, outside, current=current)
    held_out = held_out_gate(candidate, limits)
    return GateResult(problems=(*problems, *held_out.problems), draft=held_out.draft)


def new_text(candidate: Candidate, current: PromptSet) -> dict[str, str]:
    """The lines of each candidate file that the current file does not have (a new file: all of
    them): what the candidate writes, as opposed to what it keeps."""
    before = {f.path: set(f.content.split("\n")) for f in current.files}
    return {
        f.path: "\n".join(ln for ln in f.content.split("\n") if ln not in before.get(f.path, ()))
        for f in candidate.files
    }


def _size_problems(candidate: Candidate, current: PromptSet, limits: TrainingOptions) -> list[str]:
    before = sum(len(f.content) for f in current.files)
    after = sum(len(f.content) for f in candidate.files)
    problems = []
    if after // 4 > limits.max_prompt_tokens:
        problems.append(
            f"the candidate is about {after // 4} tokens "
            f"(limit training.max_prompt_tokens={limits.max_prompt_tokens})"
        )
    grown = after - before
    if before and grown > GROWTH_FLOOR and grown * 100 > limits.max_growth_pct * before:
        problems.append(
            f"the candidate grows the prompts by {(after - before) * 100 // before}% "
            f"(limit training.max_growth_pct={limits.max_growth_pct})"
        )
    return problems


def _keep_problems(candidate: Candidate, current: PromptSet) -> list[str]:
    """Lines marked ``prompt-trainer: keep`` must survive verbatim in the same file."""
    after = {f.path: f.content.split("\n") for f in candidate.files}
    problems = []
    for file in current.files:
        for line in file.content.split("\n"):
            if KEEP_MARKER in line and line not in after.get(file.path, []):
                problems.append(f"{file.path}: a line marked '{KEEP_MARKER}' was changed: {line}")
    return problems


def words(text: str) -> list[str]:
    """Lowercased words without punctuation, after NFKC, with invisible characters (zero-width
    spaces, joiners, soft hyphens) and URLs (checked on their own) removed: what the copy check
    compares."""
    flat = URL.sub(" ", INVISIBLE.sub("", unicodedata.normalize("NFKC", text)))
    return WORD.findall(flat.casefold())


def shingles(items: list[str]) -> set[tuple[str, ...]]:
    return {tuple(items[n : n + SHINGLE]) for n in range(len(items) - SHINGLE + 1)}


def _copy_problems(
    candidate: Candidate, outside: list[Labelled], *, current: PromptSet
) -> list[str]:
    """The candidate's new text may not share a run of ``SHINGLE`` words (case, punctuation,
    line breaks and invisible characters ignored; runs the current prompts have are not new)
    with any outside text, nor add a URL or a download piped to a shell that the outside text
    has and the current prompts do not."""
    added = "\n".join(new_text(candidate, current).values())
    if not added.strip() or not outside:
        return []
    problems: list[str] = []
    before = "\n".join(f.content for f in current.files)
    written = shingles(words(added)) - shingles(words(before))
    for label, text in outside:
        shared = _first_shared(words(text), written)
        if shared:
            problems.append(f"the candidate copies outside text ({label}): {' '.join(shared)!r}")
            break
    return problems + _link_problems(added, [t for _, t in outside], before=before.casefold())


def _first_shared(items: list[str], written: set[tuple[str, ...]]) -> tuple[str, ...] | None:
    for n in range(len(items) - SHINGLE + 1):
        if (shingle := tuple(items[n : n + SHINGLE])) in written:
            return shingle
    return None


def _link_problems(added: str, outside: list[str], *, before: str) -> list[str]:
    """New URLs and shell pipes in the candidate that come from the evidence."""
    problems = []
    lowered = [t.casefold() for t in outside]
    for url in sorted({m.rstrip(".,;:!?'\"`)]>*_") for m in URL.findall(added)}):
        key = url.casefold()
        if key not in before and any(key in t for t in lowered):
            problems.append(f"the candidate adds a URL found in outside text: {url[:120]!r}")
    pipes = [m.group(0) for m in SHELL_PIPE.finditer(" ".join(added.split()))]
    if pipes and any(SHELL_PIPE.search(" ".join(t.split())) for t in outside):
        kept = " ".join(before.split())
        for pipe in pipes:
            if pipe.casefold() not in kept:
                problems.append(
                    f"the candidate adds a download piped to a shell, as outside text does: "
                    f"{pipe[:120]!r}"
                )
    return problems


def frontmatter_problems(candidate: Candidate, current: PromptSet, target: Target) -> list[str]:
    """Frontmatter stays valid: a file that had some keeps it byte for byte (``applyTo``,
    ``globs``, a skill's ``name`` decide when agents read the file; subagents, whose
    description is part of their prompt, are checked by ``_subagent_problems``), and every
    file has the keys its kind needs (``prompt_kinds.REQUIRED_KEYS``)."""
    before = {f.path: f.content for f in current.files}
    problems = []
    for file in candidate.files:
        if _is_subagent(file.path, current, target):
            continue
        block = frontmatter_block(before.get(file.path, ""))
        if block is not None and frontmatter_block(file.content) != block:
            problems.append(f"{file.path}: its frontmatter changed (it is kept as written)")
            continue
        meta = frontmatter(file.content)
        missing = [k for k in REQUIRED_KEYS.get(kind_of(file.path), ()) if not meta.get(k)]
        if missing:
            problems.append(f"{file.path}: frontmatter needs {', '.join(missing)}")
    return problems


def _is_subagent(path: str, current: PromptSet, target: Target) -> bool:
    """A file of the subagents directory (existing, or new: every new file is a subagent)."""
    listed = {current.main.path, *target.files}
    return path not in listed and (
        path in {s.path for s in current.subagents} or path not in {f.path for f in current.files}
    )


def _subagent_problems(candidate: Candidate, current: PromptSet, target: Target) -> list[str]:
    existing = {f.path for f in current.files}
    names: list[str] = []
    problems: list[str] = []
    for file in candidate.files:
        if not _is_subagent(file.path, current, target):
            continue
        meta, _ = split_frontmatter(file.content)
        name = str(meta.get("name", ""))
        if not name or not meta.get("description"):
            problems.append(f"{file.path}: frontmatter needs a name and a description")
        elif bad := subagent_name_problem(name):
            problems.append(f"{file.path}: {bad}")
        elif file.path not in existing and file.path != subagent_path(target, name):
            problems.append(
                f"{file.path}: a new subagent {name!r} belongs at {subagent_path(target, name)}"
            )
        names.append(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"subagent names are not unique: {', '.join(repeated)}")
    if len(names) > target.max_subagents:
        problems.append(f"{len(names)} subagents, more than max_subagents={target.max_subagents}")
    return problems
