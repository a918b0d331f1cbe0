"""Store stage, what the loop remembers across prompt versions: the per-bullet ledger, the
samples of earlier versions shown as context, and the samples a closed proposal was judged on.

**The bullet ledger** is ``.prompt-trainer/bullets.jsonl``, kept on the data branch beside
``samples.jsonl`` and written through the same ``BranchFiles`` mechanism (read, merge, commit,
fast-forward; read again and retry when another run moved the branch). One line per bullet a
merged proposal added or changed (``BulletEntry``): the bullet's text, the PR, the version the
merge made, the evidence it cited and the *kinds* of that evidence (``test:<id>``,
``message:<normalised first line>``, ``type:<reported failure type>``), resolved against the
stored samples when the entry is first written. It is persisted, not derived on every run,
because what it derives from does not last: the follow-up reads only the 30 most recently
closed proposals, and a sample can be removed (``samples rm``). What changes over time, whether
failures of the same kind came back, is derived on every run from the stored samples
(``history_notes``). Merging is a union keyed by (target, text, PR), written sorted, so two runs
never lose each other's entries and an unchanged ledger is not committed again.

``history_notes`` matches each bullet of the current prompt files (numbered as the model sees
them, ``B1``, ``B2``...) to its entries by normalised text (or the stored prefix, as the state
block caps texts), follows a ``modify`` back to the bullet it replaced, and says when it was
added, for which evidence, which later samples (those that ran on the version the merge made,
or whose PR opened after the merge) failed in the same way, and where reviewers approved it.
``earlier_context`` summarises a few samples of earlier prompt versions (those the current
bullets' evidence came from first, then the held-out samples of merged proposals, then the
newest with a problem) as context, never as training targets. ``judged_ids`` reads from the
bot's closed proposals the samples each one was judged on: the next run trains on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from prompt_trainer import workdir
from prompt_trainer.errors import GitHubError
from prompt_trainer.github.records import ClosedPull
from prompt_trainer.models import PromptSet, Record, Rejection, Sample
from prompt_trainer.render.state import read_state
from prompt_trainer.store import SYNC_ATTEMPTS, BranchFiles
from prompt_trainer.train.edits import PREFIX_WORDS, bullets, normalize
from prompt_trainer.train.evidence import normalised

BULLETS = workdir.DIRNAME + "/bullets.jsonl"  # the same relative path on the data branch
#: State-block ops that put a bullet into a prompt file.
BULLET_OPS = frozenset({"add", "modify", "add_rule", "refine_rule"})
#: Later samples named per bullet, characters of a failure shown, hops back through ``modify``.
MAX_RECURRENCES = 3
SHOWN_CHARS = 120
MAX_CHAIN = 5
#: Earlier-version samples shown as context, and characters of each.
MAX_EARLIER = 3
EARLIER_CHARS = 600

Log = Callable[[str], None]


class BulletEntry(Record):
    """One bullet a merged proposal added or changed."""

    target: str
    path: str
    text: str
    op: str
    pull: int
    #: The prompt version the merge made (the candidate's fingerprint).
    version: str | None = None
    merged_at: datetime | None = None
    evidence: tuple[str, ...] = ()
    #: What the cited evidence was: ``test:<id>``, ``message:<first line>``, ``type:<type>``.
    kinds: tuple[str, ...] = ()
    #: The bullet a ``modify`` replaced ("" otherwise).
    replaces: str = ""
    #: Reviewers approved it: the proposal was merged.
    approved: bool = True

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.target, normalize(self.text), self.pull)


# -- writing the ledger -------------------------------------------------------------------------


def bullets_path(root: Path) -> Path:
    return root / BULLETS


def entries_of(closed: Iterable[ClosedPull], samples: list[Sample]) -> list[BulletEntry]:
    """The bullets each merged proposal added or changed, with the kinds of their evidence."""
    found: list[BulletEntry] = []
    for pull in closed:
        state = read_state(pull.body)
        if not pull.merged or state is None or state.revert:
            continue
        for change in state.changes:
            if change.op not in BULLET_OPS or not change.text.strip():
                continue
            found.append(
                BulletEntry(
                    target=state.target,
                    path=change.path,
                    text=change.text,
                    op=change.op,
                    pull=pull.number,
                    version=state.fingerprint,
                    merged_at=pull.merged_at,
                    evidence=change.evidence,
                    kinds=kinds_of(change.evidence, samples),
                    replaces=change.replaces,
                )
            )
    return found


def kinds_of(evidence: Iterable[str], samples: list[Sample]) -> tuple[str, ...]:
    """The kinds of failure the cited ids are: the failing test and its normalised message, or
    a reported failure's type (``other`` says too little to match on)."""
    wanted = set(evidence)
    kinds: list[str] = []
    for sample in samples:
        for run in sample.test_runs:
            for case in run.problems:
                if case.id in wanted:
                    kinds += [f"test:{case.id}", f"message:{normalised(case.message or case.text)}"]
        kinds += [f"type:{f.type}" for f in sample.failures if f.id in wanted and f.type != "other"]
    return tuple(dict.fromkeys(k for k in kinds if k != "message:"))


def load_entries(root: Path) -> list[BulletEntry]:
    """Every entry of the local ledger that validates (others are kept in the file, unread)."""
    return [e for e in (_parse(line) for line in _lines(bullets_path(root))) if e is not None]


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _parse(line: str) -> BulletEntry | None:
    try:
        return BulletEntry.model_validate_json(line)
    except ValidationError:
        return None


def merge_entries(*sides: Iterable[str]) -> list[str]:
    """The union of ledgers (lines), one line per (target, text, PR), the first side winning;
    sorted so the same entries always give the same file. Lines that do not validate are kept."""
    kept: dict[object, tuple[tuple[str, str, str, int, str], str]] = {}
    for side in sides:
        for line in side:
            entry = _parse(line)
            key: object = entry.key if entry else line
            if key in kept:
                continue
            order = (
                (entry.target, str(entry.merged_at or ""), "", entry.pull, normalize(entry.text))
                if entry
                else ("~", "", line, 0, "")
            )
            kept[key] = (order, line)
    return [line for _, line in sorted(kept.values())]


def sync_bullets(
    root: Path,
    new: list[BulletEntry],
    files: BranchFiles | None,
    branch: str | None,
    *,
    push: bool,
    log: Log,
) -> list[BulletEntry]:
    """Add ``new`` to the local ledger, merged with the data branch's (written back unless
    ``push`` is off); the whole ledger. Without a branch, the local file alone."""
    path = bullets_path(root)
    fresh = [e.model_dump_json() for e in new]
    for _ in range(SYNC_ATTEMPTS):
        read = files.read_branch_file(branch, BULLETS) if files and branch else None
        remote = [ln for ln in ((read.text if read else None) or "").splitlines() if ln.strip()]
        merged = merge_entries(_lines(path), remote, fresh)
        if merged != _lines(path):
            workdir.atomic_write(path, "".join(f"{ln}\n" for ln in merged))
        if read is None or branch is None or files is None or not push or merged == remote:
            return load_entries(root)
        message = f"prompt-trainer: bullet ledger, {len(merged)} entr(y/ies)"
        text = "".join(f"{ln}\n" for ln in merged)
        if files.write_branch_file(branch, BULLETS, text, parent=read.head, message=message):
            log(f"memory: bullet ledger on {branch}: {len(merged)} entries")
            return load_entries(root)
    raise GitHubError(
        f"the data branch {branch} kept moving while this run wrote its bullet ledger "
        f"({SYNC_ATTEMPTS} attempts)",
        fix="another prompt-trainer run is writing; give the workflow a concurrency group "
        "and run again (the local ledger under .prompt-trainer/ is intact)",
    )


# -- reading it: what the model sees ------------------------------------------------------------


def _matches(entry: BulletEntry, text: str) -> bool:
    """Whether ``entry`` is the bullet ``text`` (its stored text may be a capped prefix)."""
    want, have = normalize(entry.text), normalize(text)
    if not want:
        return False
    long_enough = len(want.split()) >= PREFIX_WORDS
    return want == have or (long_enough and have.startswith(want + " "))


def chain_of(text: str, entries: list[BulletEntry]) -> list[BulletEntry]:
    """The entries of the bullet ``text``, and of the bullets it replaced, oldest first."""
    found: list[BulletEntry] = []
    wanted = [text]
    for _ in range(MAX_CHAIN):
        step = [e for e in entries if any(_matches(e, w) for w in wanted) and e not in found]
        if not step:
            break
        found += step
        wanted = [e.replaces for e in step if e.replaces]
    return sorted(found, key=lambda e: (e.merged_at or datetime.min.replace(tzinfo=UTC), e.pull))


def _opened(sample: Sample) -> datetime:
    moment = sample.pull.created_at or sample.collected_at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _after(sample: Sample, entry: BulletEntry) -> bool:
    """The sample ran with the bullet: on the version the merge made, or opened after it."""
    if entry.version and sample.prompt_versions.get(entry.target) == entry.version:
        return True
    return entry.merged_at is not None and _opened(sample) > entry.merged_at


def recurrences(entry: BulletEntry, samples: list[Sample]) -> list[tuple[str, str]]:
    """(sample id, what failed) for each later sample that failed in a way the entry's
    evidence did: the same test, the same normalised message, or a report of the same type."""
    kinds = set(entry.kinds)
    found: list[tuple[str, str]] = []
    for sample in samples:
        if not kinds or not _after(sample, entry):
            continue
        what = _same_kind(sample, kinds)
        if what:
            found.append((sample.id, what))
    return found


def _same_kind(sample: Sample, kinds: set[str]) -> str:
    for run in sample.test_runs:
        for case in run.problems:
            message = normalised(case.message or case.text)
            if f"test:{case.id}" in kinds or (message and f"message:{message}" in kinds):
                return f"{case.id} {case.status}: {message}"[:SHOWN_CHARS]
    for report in sample.failures:
        if f"type:{report.type}" in kinds:
            return f"reported {report.type}: {' '.join(report.description.split())}"[:SHOWN_CHARS]
    return ""


def history_notes(
    current: PromptSet, entries: list[BulletEntry], samples: list[Sample]
) -> tuple[str, ...]:
    """One line per current bullet that has a history, as the model reads it."""
    mine = [e for e in entries if e.target == current.target]
    merges = sorted({(e.merged_at or datetime.min.replace(tzinfo=UTC), e.pull) for e in mine})
    notes: list[str] = []
    for prompt in current.files:
        for n, text in enumerate(bullets(prompt.content), start=1):
            chain = [e for e in chain_of(text, mine) if e.path in ("", prompt.path)]
            if chain:
                notes.append(f"{prompt.path} B{n}: " + _story(chain, merges, samples))
    return tuple(notes)


def _story(
    chain: list[BulletEntry], merges: list[tuple[datetime, int]], samples: list[Sample]
) -> str:
    first, last = chain[0], chain[-1]
    ago = len([m for m in merges if m[1] != last.pull and m > (_at(last), last.pull)])
    when = "the latest merged proposal" if not ago else f"{ago} merged proposal(s) ago"
    steps = [f"added in #{first.pull}{_for(first)}"]
    steps += [f"changed in #{e.pull}{_for(e)}" for e in chain[1:]]
    parts = [f"{'; '.join(steps)} ({when})"]
    approved = sorted({e.pull for e in chain if e.approved})
    parts.append("approved by reviewers in " + ", ".join(f"#{p}" for p in approved) + " (merged)")
    back = list(dict.fromkeys(r for e in chain[-1:] for r in recurrences(e, samples)))
    if back:
        shown = "; ".join(f"{sid} ({what})" for sid, what in back[:MAX_RECURRENCES])
        parts.append(
            f"the same kind of failure came back after it in {len(back)} later sample(s): {shown}"
            " — make this bullet sharper rather than adding another"
        )
    elif last.kinds:
        parts.append("no failure of the same kind came back since")
    return "; ".join(parts)


def _for(entry: BulletEntry) -> str:
    return f" for {', '.join(entry.evidence[:3])}" if entry.evidence else ""


def _at(entry: BulletEntry) -> datetime:
    return entry.merged_at or datetime.min.replace(tzinfo=UTC)


# -- earlier versions and judged samples ----------------------------------------------------------


def judged_ids(closed: Iterable[ClosedPull]) -> dict[str, frozenset[str]]:
    """The held-out samples each closed proposal (merged or not) was judged on, by target."""
    found: dict[str, set[str]] = {}
    for pull in closed:
        state = read_state(pull.body)
        if state is not None and not state.revert and state.held_out_ids:
            found.setdefault(state.target, set()).update(state.held_out_ids)
    return {target: frozenset(ids) for target, ids in found.items()}


def earlier_context(
    current: PromptSet,
    stored: list[Sample],
    entries: list[BulletEntry],
    *,
    judged: frozenset[str] = frozenset(),
) -> tuple[Sample, ...]:
    """A few samples of earlier versions of the target's prompts, summarised, for what the
    current bullets were meant to fix: those holding evidence the current bullets cite first,
    then samples judged for a proposal, then the newest with a problem."""
    earlier = [
        s
        for s in stored
        if s.prompt_versions.get(current.target) not in (None, current.version) and _problem(s)
    ]
    cited = {
        ev
        for prompt in current.files
        for text in bullets(prompt.content)
        for e in chain_of(text, [x for x in entries if x.target == current.target])
        for ev in e.evidence
    }

    def rank(sample: Sample) -> tuple[int, float]:
        holds = bool(cited & _ids(sample))
        return (0 if holds else 1 if sample.id in judged else 2, -_opened(sample).timestamp())

    return tuple(sorted(earlier, key=rank)[:MAX_EARLIER])


def _problem(sample: Sample) -> bool:
    return bool(
        any(run.problems for run in sample.test_runs)
        or sample.failures
        or any(f.trusted and f.state != "APPROVED" and f.body.strip() for f in sample.feedback)
    )


def _ids(sample: Sample) -> set[str]:
    ids = {c.id for run in sample.test_runs for c in run.problems}
    ids |= {f.id for f in sample.failures} | {f.url or f.id for f in sample.feedback}
    return ids


def _summary(sample: Sample, target: str) -> str:
    """``<id> (earlier version <v>; context, not a training target): ...``."""
    parts = [
        f"{c.id} {c.status}: {normalised(c.message or c.text)}"
        for run in sample.test_runs
        for c in run.problems[:2]
    ][:2]
    parts += [f"reported {f.type}: {f.description}" for f in sample.failures[:1]]
    said = [f for f in sample.feedback if f.trusted and f.body.strip() and f.state != "APPROVED"]
    parts += [f"reviewer {f.author}: {f.body}" for f in said[:1]]
    version = sample.prompt_versions.get(target, "?")[:12]
    text = " | ".join(" ".join(p.split()) for p in parts)
    head = f"{sample.id} (earlier version {version}; context, not a training target): "
    return (head + text)[:EARLIER_CHARS]


# -- what one target's training gets --------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """What a target's training is shown from before its current version."""

    #: The bullet ledger of the target, and every stored sample (``history`` reads them).
    entries: tuple[BulletEntry, ...] = ()
    stored: tuple[Sample, ...] = ()
    #: Summaries of samples of earlier versions: context, never training targets.
    earlier: tuple[str, ...] = ()
    #: Samples a closed proposal was judged on: trained on, never held out again.
    judged: frozenset[str] = field(default_factory=frozenset)
    #: The samples whose words the history and the context may quote: the guardrails'
    #: anti-copy check reads them too.
    quoted: tuple[Sample, ...] = ()

    def with_quoted(self, samples: list[Sample]) -> list[Sample]:
        """``samples`` and the quoted ones not among them: what the anti-copy check reads."""
        return samples + [s for s in self.quoted if s not in samples]

    def outside(self, rejected: Iterable[Rejection] = ()) -> tuple[tuple[str, str], ...]:
        """Outside text shown beside the evidence, for the anti-copy check (the quoted samples
        are read whole by ``with_quoted``): the earlier-version context, the evidence and kinds
        of the bullet ledger's entries (test ids, failure messages), what reviewers wrote on
        rejected proposals."""
        found = [("the earlier-version context", line) for line in self.earlier]
        for e in self.entries:
            found += [(f"the bullet ledger (#{e.pull})", t) for t in (*e.evidence, *e.kinds)]
        for r in rejected:
            found += [(f"what reviewers wrote on rejected #{r.pull}", t) for t in r.reasons]
        return tuple(found)

    def history(self, current: PromptSet, *, hidden: Iterable[str] = ()) -> tuple[str, ...]:
        """The bullet history, counting no ``hidden`` (held-out) sample as a recurrence: the
        trainer never sees what the judge will."""
        out = set(hidden)
        seen = [s for s in self.stored if s.id not in out]
        return history_notes(current, list(self.entries), seen)


def memory_for(
    current: PromptSet,
    stored: list[Sample],
    entries: list[BulletEntry],
    judged_by_target: Mapping[str, frozenset[str]] | None = None,
) -> Memory:
    """The bullet ledger, the earlier-version context and the judged samples of one target
    (``judged_by_target``: each target's samples a closed proposal was judged on)."""
    judged = (judged_by_target or {}).get(current.target, frozenset())
    mine = tuple(e for e in entries if e.target == current.target)
    earlier = earlier_context(current, stored, list(mine), judged=judged)
    named = {
        sid for line in history_notes(current, list(mine), stored) for sid in _named(line, stored)
    }
    return Memory(
        entries=mine,
        stored=tuple(stored),
        earlier=tuple(_summary(s, current.target) for s in earlier),
        judged=judged,
        quoted=earlier + tuple(s for s in stored if s.id in named and s not in earlier),
    )


def _named(line: str, stored: list[Sample]) -> list[str]:
    return [s.id for s in stored if f"{s.id} (" in line]


def dumps(entries: Iterable[BulletEntry]) -> str:
    """The entries as the ledger file holds them (for tests and tools)."""
    return "".join(f"{e.model_dump_json()}\n" for e in entries)
