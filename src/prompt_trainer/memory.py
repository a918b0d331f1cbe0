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

**Realized outcomes** (``measure.outcomes`` computes, this module remembers). Before training,
``observe`` walks the current bullets against the run's measurement (``TargetReport``: the
versions with their bullets and samples, the failure clusters): the version that introduced each
bullet, the clusters it targets (a merged proposal's: those its state block named and those
holding the evidence it cited; a person's: those whose evidence names its terms, then a ``human``
entry, ``pull`` 0), and the ids of the samples before it, since it, and of those that showed a
targeted cluster. Entries join (``BulletEntry.joined``): targets and sample ids are unions, so
the before/after accumulates across runs and runners. ``outcome_of`` turns an entry into counts
(``BulletOutcome``, without held-out samples); ``history_notes`` adds them to each bullet's line;
``outcome_notes`` gives, for a bullet whose clusters did not fall, the evidence of the PRs since
it, which the bullet history offers to sharpen or retire it; ``merge_outcomes`` is what each
earlier merged proposal did, for the PR body and the dashboard; ``bullet_rows`` is ``report``'s.

``history_notes`` matches each bullet of the current prompt files (numbered as the model sees
them, ``B1``, ``B2``...) to its entries by normalised text (or the stored prefix, as the state
block caps texts), follows a ``modify`` back to the bullet it replaced, and says when it was
added, for which evidence, which later samples (those that ran on the version the merge made,
or whose PR opened after the merge) failed in the same way, and where reviewers approved it.
``earlier_context`` summarises a few samples of earlier prompt versions (those the current
bullets' evidence came from first, then the held-out samples of merged proposals, then the
newest with a problem) as context for the curation; the trainer itself counts samples of earlier
versions as evidence of a failure that still occurs under the current one (``train.plan``), so
every earlier sample with a problem is among those the anti-copy check reads (``quoted``).
``judged_ids`` reads from the bot's closed proposals the samples each one was judged on: the next
run trains on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from prompt_trainer import workdir
from prompt_trainer.bullets import PREFIX_WORDS, bullets, normalize
from prompt_trainer.errors import GitHubError
from prompt_trainer.github.records import ClosedPull
from prompt_trainer.measure.clusters import Cluster, cluster_samples
from prompt_trainer.measure.outcomes import (
    Attribution,
    BulletOutcome,
    BulletRow,
    ClusterFacts,
    MergeOutcome,
    Rate,
    attribute,
    shares,
    term_targets,
)
from prompt_trainer.measure.report import TargetReport
from prompt_trainer.measure.versions import Version
from prompt_trainer.models import PromptSet, Record, Rejection, Sample
from prompt_trainer.render.state import read_state
from prompt_trainer.store import SYNC_ATTEMPTS, BranchFiles
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


class ClusterTarget(Record):
    """A failure cluster a bullet targets, and why we say so (shown wherever the target is)."""

    cluster: str
    label: str = ""
    #: ``cited <evidence id>`` (the bot's edit cited a problem of the cluster) or ``shares
    #: `ApiClient`, `invoices/api_client.py``` (a human's bullet: repository-specific terms).
    reason: str = ""


class BulletEntry(Record):
    """One bullet a merged proposal added or changed (``by`` ``bot``), or a human's bullet of the
    current prompt files that targets a failure cluster (``by`` ``human``, ``pull`` 0)."""

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
    by: Literal["bot", "human"] = "bot"
    #: The prompt version that introduced it: the first version, in order, whose file holds it.
    introduced: str | None = None
    #: The failure clusters it targets (``measure.outcomes``), with the reason for each.
    targets: tuple[ClusterTarget, ...] = ()
    #: Samples (ids) of the versions before it, of the versions holding it, and those of either
    #: side that showed a targeted cluster: accumulated across runs (a union), so its
    #: before/after survives samples leaving the store.
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    hits: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.target, normalize(self.text), self.pull)

    def joined(self, other: BulletEntry) -> BulletEntry:
        """This entry with ``other``'s observations and targets added (the same bullet seen by
        another run): a union, so merging is order-free for them and never loses a sample."""
        theirs = {t.cluster: t for t in other.targets}
        mine = tuple(
            t.model_copy(update={"label": theirs[t.cluster].label})
            if not t.label and t.cluster in theirs
            else t
            for t in self.targets
        )
        known = {t.cluster for t in self.targets}
        return self.model_copy(
            update={
                "introduced": self.introduced or other.introduced,
                "targets": mine + tuple(t for t in other.targets if t.cluster not in known),
                "before": _union(self.before, other.before),
                "after": _union(self.after, other.after),
                "hits": _union(self.hits, other.hits),
            }
        )


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(a) | set(b)))


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
                    targets=tuple(
                        ClusterTarget(cluster=c, reason=_cited_reason(change.evidence))
                        for c in change.clusters
                    ),
                )
            )
    return found


def _cited_reason(evidence: Sequence[str]) -> str:
    return "cited " + ", ".join(evidence[:2]) if evidence else "proposed for it"


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
    """The union of ledgers (lines), one line per (target, text, PR): the first side's fields
    win, the observations and targets of every side are joined (``BulletEntry.joined``); sorted
    so the same entries always give the same file. Lines that do not validate are kept."""
    entries: dict[tuple[str, str, int], BulletEntry] = {}
    invalid: dict[str, None] = {}
    for side in sides:
        for line in side:
            entry = _parse(line)
            if entry is None:
                invalid[line] = None
            elif entry.key in entries:
                entries[entry.key] = entries[entry.key].joined(entry)
            else:
                entries[entry.key] = entry
    ordered = sorted(
        entries.values(),
        key=lambda e: (e.target, str(e.merged_at or ""), e.pull, normalize(e.text)),
    )
    return [e.model_dump_json() for e in ordered] + sorted(invalid)


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


def outcome_of(entry: BulletEntry, *, hidden: Iterable[str] = ()) -> BulletOutcome | None:
    """The entry's before/after rate of the clusters it targets, leaving out ``hidden``
    (held-out) samples; None when it targets none."""
    if not entry.targets:
        return None
    out = set(hidden)
    before = [s for s in entry.before if s not in out]
    after = [s for s in entry.after if s not in out]
    return BulletOutcome(Rate.of(before, entry.hits), Rate.of(after, entry.hits))


def merge_outcomes(entries: Iterable[BulletEntry]) -> list[MergeOutcome]:
    """One row per merged proposal whose bullets target a cluster, newest first."""
    by_pull: dict[int, list[BulletEntry]] = {}
    for entry in entries:
        if entry.by == "bot" and entry.pull and entry.targets:
            by_pull.setdefault(entry.pull, []).append(entry)
    rows = []
    for pull, group in by_pull.items():
        labels = dict.fromkeys(t.label or t.cluster for e in group for t in e.targets)
        before = {s for e in group for s in e.before}
        after = {s for e in group for s in e.after}
        hits = {s for e in group for s in e.hits}
        outcome = BulletOutcome(Rate.of(before, hits), Rate.of(after, hits))
        rows.append(MergeOutcome(pull, group[0].merged_at, len(group), tuple(labels), outcome))
    return sorted(rows, key=lambda r: (_when(r.merged_at), r.pull), reverse=True)


def _when(moment: datetime | None) -> datetime:
    return moment or datetime.min.replace(tzinfo=UTC)


# -- observing the current bullets ---------------------------------------------------------------

HUMAN = "human"


def observe(
    current: PromptSet, report: TargetReport, entries: Iterable[BulletEntry]
) -> list[BulletEntry]:
    """The entries of the current bullets with what this run sees of them: the version that
    introduced each (``outcomes.attribute``), the clusters it targets and the samples before it
    and since (of the report's clusters). A bullet with a ledger entry (a merged proposal's)
    targets the clusters of the evidence its edit cited; any other is a human's and targets the
    clusters whose evidence names its terms (``outcomes.term_targets``); a human's bullet that
    targets none is left out. Entries of bullets no longer in the files are not returned."""
    mine = [e for e in entries if e.target == current.target]
    clusters = [row.cluster for row in report.clusters]
    found: list[BulletEntry] = []
    for prompt in current.files:
        for text in bullets(prompt.content):
            where = attribute([v.version for v in report.versions], prompt.path, text)
            entry = _entry(current.target, prompt.path, text, mine, clusters)
            if entry is not None and where.introduced is not None:
                found.append(_observed(entry, where.introduced, where, report))
    return found


def _entry(
    target: str, path: str, text: str, mine: list[BulletEntry], clusters: list[ClusterFacts]
) -> BulletEntry | None:
    """The bullet's own entry with the targets this run finds (a human's: a new entry)."""
    own = [e for e in mine if e.path in ("", path) and _matches(e, text)]
    bot = [e for e in own if e.by == "bot"]
    if bot:
        last = max(bot, key=lambda e: (_at(e), e.pull))
        return last.joined(last.model_copy(update={"targets": _targeted(last, clusters)}))
    shared = term_targets(text, {c.id: c.text for c in clusters})
    known = [e for e in own if e.by == HUMAN]
    if not shared and not known:  # no target now, none before: no claim
        return None
    labels = {c.id: c.label for c in clusters}
    targets = tuple(
        ClusterTarget(cluster=c, label=labels[c], reason=shares(t)) for c, t in shared.items()
    )
    human = BulletEntry(
        target=target, path=path, text=text, op=HUMAN, pull=0, approved=False, by=HUMAN,
        targets=targets,
    )  # fmt: skip
    return known[0].joined(human) if known else human


def _targeted(entry: BulletEntry, clusters: list[ClusterFacts]) -> tuple[ClusterTarget, ...]:
    """The clusters the bot's edit targets as this run's clusters say: those named when it was
    proposed (the state block's), and those holding the evidence it cited, with the first id."""
    named = {t.cluster: t for t in entry.targets}
    found = []
    for cluster in clusters:
        cited = [e for e in entry.evidence if e in cluster.evidence]
        if cited or cluster.id in named:
            reason = f"cited {cited[0]}" if cited else named[cluster.id].reason
            found.append(ClusterTarget(cluster=cluster.id, label=cluster.label, reason=reason))
    return tuple(found)


def _observed(
    entry: BulletEntry, introduced: Version, where: Attribution, report: TargetReport
) -> BulletEntry:
    """``entry`` with the samples of the versions before it and of those holding it, and those
    of them that showed a cluster it targets."""
    before = {s for v in where.before for s in report.sample_ids(v.hash)}
    after = {s for v in where.holding for s in report.sample_ids(v.hash)}
    targeted = {t.cluster for t in entry.targets}
    shown = {
        s for row in report.clusters if row.cluster.id in targeted for s in row.cluster.samples
    }
    seen = entry.model_copy(
        update={
            "introduced": introduced.hash,
            "before": tuple(sorted(before)),
            "after": tuple(sorted(after)),
            "hits": tuple(sorted((before | after) & shown)),
        }
    )
    return entry.joined(seen).model_copy(update={"introduced": introduced.hash})


def joined(entries: Iterable[BulletEntry], seen: Iterable[BulletEntry]) -> list[BulletEntry]:
    """``entries`` with ``seen`` joined in (``BulletEntry.joined``), one per key."""
    ledger = {e.key: e for e in entries}
    for entry in seen:
        ledger[entry.key] = ledger[entry.key].joined(entry) if entry.key in ledger else entry
    return list(ledger.values())


#: PRs that must have run with a bullet before its clusters are said to have fallen or not
#: (``report.min_samples`` where the settings are known).
MIN_AFTER = 5
#: Recurrences (PRs since the bullet that showed its clusters) shown per bullet, and evidence
#: ids per recurrence.
MAX_SHOWN_RECURRENCES = 4
MAX_RECURRENCE_IDS = 3
#: Verdicts that propose sharpening or retiring a bullet.
UNFALLEN = ("did not fall", "still occurs")


@dataclass(frozen=True)
class BulletOutcomeNote:
    """What one current bullet did to the clusters it targets, as training reads it: the
    counts (``helpful``/``harmful``, before/after, the one-sided p) and, for a bullet whose
    clusters did not fall, the evidence of the PRs since it that still showed them, which an
    edit sharpening or retiring it can cite."""

    path: str
    number: int
    text: str
    by: str
    clusters: tuple[str, ...]
    outcome: BulletOutcome
    verdict: str
    #: (sample id, evidence ids of its targeted clusters' problems), newest first.
    recurrences: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def unfallen(self) -> bool:
        """Its clusters did not fall (or still occur with nothing before it to compare), and
        there is evidence to show for it."""
        return self.verdict in UNFALLEN and bool(self.recurrences)

    @property
    def evidence(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for _, ids in self.recurrences for e in ids))

    @property
    def bullet(self) -> str:
        return f"{self.path} B{self.number}"

    def note(self) -> str:
        """What training reads beside the counts: by whom, its clusters before and since, the
        verdict, and for an unfallen bullet the evidence since it and what to do with it."""
        return (
            f"by {self.by}; its clusters ({'; '.join(self.clusters)}) showed in "
            f"{self.outcome.counts}: {self.verdict}{self.proposal()}"
        )

    def proposal(self) -> str:
        """For an unfallen bullet, the evidence since it and what to do with it ("" else)."""
        if not self.unfallen:
            return ""
        shown = "; ".join(f"{sid}: {', '.join(ids)}" for sid, ids in self.recurrences)
        return (
            f". PRs since it that still showed them: {shown}. Sharpen it (modify "
            f"B{self.number}, naming what these failures show) or retire it (remove "
            f"B{self.number}), citing this evidence."
        )


def outcome_notes(
    current: PromptSet,
    entries: Iterable[BulletEntry],
    stored: Sequence[Sample],
    *,
    hidden: Iterable[str] = (),
    min_after: int = MIN_AFTER,
) -> tuple[BulletOutcomeNote, ...]:
    """Each current bullet that targets a cluster, with its outcome (without the ``hidden``
    samples) and, when it did not fall, the evidence of the stored PRs since it that showed
    its clusters (those are clustered again here, so the ids are the ones training views give)."""
    out = set(hidden)
    mine = [e for e in entries if e.target == current.target]
    shown = [s for s in stored if s.id not in out and current.target in s.prompt_versions]
    clusters = {c.id: c for c in cluster_samples(shown, target=current.target)}
    notes = []
    for prompt in current.files:
        for n, text in enumerate(bullets(prompt.content), start=1):
            entry = own_entry(mine, prompt.path, text)
            outcome = outcome_of(entry, hidden=out) if entry else None
            if entry is None or outcome is None:
                continue
            notes.append(
                BulletOutcomeNote(
                    path=prompt.path,
                    number=n,
                    text=text,
                    by=f"#{entry.pull}" if entry.by == "bot" else HUMAN,
                    clusters=tuple(t.label or t.cluster for t in entry.targets),
                    outcome=outcome,
                    verdict=outcome.verdict(min_after=min_after),
                    recurrences=_recurrences(entry, clusters, shown),
                )
            )
    return tuple(notes)


def _recurrences(
    entry: BulletEntry, clusters: Mapping[str, Cluster], shown: Sequence[Sample]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    since = set(entry.after) & set(entry.hits)
    targeted = [clusters[t.cluster] for t in entry.targets if t.cluster in clusters]
    found = []
    for sample in sorted((s for s in shown if s.id in since), key=_opened, reverse=True):
        ids = [e for c in targeted for e in c.evidence_of(sample.id)]
        if ids:
            found.append((sample.id, tuple(dict.fromkeys(ids))[:MAX_RECURRENCE_IDS]))
    return tuple(found[:MAX_SHOWN_RECURRENCES])


def bullet_rows(
    current: PromptSet, report: TargetReport, entries: Iterable[BulletEntry]
) -> tuple[BulletRow, ...]:
    """Every bullet of the current files as ``report`` shows it, from the ledger ``entries``
    joined with what ``observe`` sees now."""
    mine = [e for e in entries if e.target == current.target]
    ledger = {e.key: e for e in joined(mine, observe(current, report, mine))}
    labels = {v.version.hash: v.version.label for v in report.versions}
    rows = []
    for prompt in current.files:
        for n, text in enumerate(bullets(prompt.content), start=1):
            where = attribute([v.version for v in report.versions], prompt.path, text)
            entry = own_entry(ledger.values(), prompt.path, text)
            rows.append(
                BulletRow(
                    path=prompt.path,
                    number=n,
                    text=text,
                    introduced=labels.get(where.introduced.hash) if where.introduced else None,
                    by=f"#{entry.pull}" if entry and entry.by == "bot" else HUMAN,
                    targets=tuple((t.label or t.cluster, t.reason) for t in entry.targets)
                    if entry
                    else (),
                    outcome=outcome_of(entry) if entry else None,
                )
            )
    return tuple(rows)


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
    """One line per current bullet that has a history, as the model reads it: what merged
    proposals did to it (``_story``) and the clusters it targets, with the reason (its counts
    are ``outcome_notes``')."""
    mine = [e for e in entries if e.target == current.target]
    bots = [e for e in mine if e.by == "bot"]
    merges = sorted({(_at(e), e.pull) for e in bots})
    notes: list[str] = []
    for prompt in current.files:
        for n, text in enumerate(bullets(prompt.content), start=1):
            chain = [e for e in chain_of(text, bots) if e.path in ("", prompt.path)]
            parts = [_story(chain, merges, samples)] if chain else []
            own = own_entry(mine, prompt.path, text)
            if own is not None and own.by == HUMAN and own.targets:
                parts.append(f"written by a person (first in version {own.introduced or '?'})")
            if own is not None and own.targets:
                parts.append("targets " + _targets(own))
            if parts:
                notes.append(f"{prompt.path} B{n}: " + "; ".join(parts))
    return tuple(notes)


def own_entry(entries: Iterable[BulletEntry], path: str, text: str) -> BulletEntry | None:
    """The ledger entry of the bullet ``text`` of ``path``: the latest merged proposal's that
    wrote it, else a human's."""
    own = [e for e in entries if e.path in ("", path) and _matches(e, text)]
    return max(own, key=lambda e: (e.by == "bot", _at(e), e.pull), default=None)


def _targets(entry: BulletEntry) -> str:
    """``<cluster> (<reason>), ...``: what the bullet targets and why."""
    return ", ".join(f"{t.label or t.cluster} ({t.reason})" for t in entry.targets[:3])


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

    #: PRs a bullet must have run on before its clusters are said to have fallen or not.
    min_after: int = MIN_AFTER

    def outside(self, rejected: Iterable[Rejection] = ()) -> tuple[tuple[str, str], ...]:
        """Outside text shown beside the evidence, for the anti-copy check (the quoted samples
        are read whole by ``with_quoted``): the earlier-version context, the evidence, kinds
        and targeted clusters' labels of the bullet ledger's entries (test ids, failure
        messages, reviewers' words: the outcome notes show the labels, and an entry outlives
        the samples they came from), what reviewers wrote on rejected proposals."""
        found = [("the earlier-version context", line) for line in self.earlier]
        for e in self.entries:
            labels = tuple(t.label for t in e.targets if t.label)
            found += [
                (f"the bullet ledger (#{e.pull})", t) for t in (*e.evidence, *e.kinds, *labels)
            ]
        for r in rejected:
            found += [(f"what reviewers wrote on rejected #{r.pull}", t) for t in r.reasons]
        return tuple(found)

    def history(self, current: PromptSet, *, hidden: Iterable[str] = ()) -> tuple[str, ...]:
        """The bullet history, counting no ``hidden`` (held-out) sample as a recurrence: the
        trainer never sees what the judge will."""
        out = set(hidden)
        seen = [s for s in self.stored if s.id not in out]
        return history_notes(current, list(self.entries), seen)

    def outcomes(
        self, current: PromptSet, *, hidden: Iterable[str] = ()
    ) -> tuple[BulletOutcomeNote, ...]:
        """What each current bullet did to its clusters (``outcome_notes``), without the
        ``hidden`` samples; the unfallen ones carry the evidence to sharpen or retire them."""
        return outcome_notes(
            current, self.entries, self.stored, hidden=hidden, min_after=self.min_after
        )


def memory_for(
    current: PromptSet,
    stored: list[Sample],
    entries: list[BulletEntry],
    judged_by_target: Mapping[str, frozenset[str]] | None = None,
    *,
    min_after: int = MIN_AFTER,
) -> Memory:
    """The bullet ledger, the earlier-version context and the judged samples of one target
    (``judged_by_target``: each target's samples a closed proposal was judged on)."""
    judged = (judged_by_target or {}).get(current.target, frozenset())
    mine = tuple(e for e in entries if e.target == current.target)
    earlier = earlier_context(current, stored, list(mine), judged=judged)
    named = {
        sid for line in history_notes(current, list(mine), stored) for sid in _named(line, stored)
    }
    # Samples of earlier versions with a problem may be shown as evidence of a failure that
    # still occurs (``train.plan``): the anti-copy check reads them all.
    before = tuple(
        s
        for s in stored
        if s.prompt_versions.get(current.target) not in (None, current.version) and _problem(s)
    )
    quoted = earlier + tuple(s for s in stored if s.id in named and s not in earlier)
    return Memory(
        entries=mine,
        stored=tuple(stored),
        earlier=tuple(_summary(s, current.target) for s in earlier),
        judged=judged,
        quoted=quoted + tuple(s for s in before if s not in quoted),
        min_after=min_after,
    )


def _named(line: str, stored: list[Sample]) -> list[str]:
    return [s.id for s in stored if f"{s.id} (" in line]


def dumps(entries: Iterable[BulletEntry]) -> str:
    """The entries as the ledger file holds them (for tests and tools)."""
    return "".join(f"{e.model_dump_json()}\n" for e in entries)
