"""Store stage, the bullet ledger: ``.prompt-trainer/bullets.jsonl``, kept on the data branch
beside ``samples.jsonl`` and written through the same ``BranchFiles`` mechanism (read, merge,
commit, fast-forward; read again and retry when another run moved the branch).

In: the bot's closed proposals (their state blocks) and the stored samples (``entries_of``);
the local file and the data branch's (``sync_bullets``). Out: ``BulletEntry`` records, one line
per bullet a merged proposal added or changed: the bullet's text, the PR, the version the merge
made, the evidence it cited and the *kinds* of that evidence (``test:<id>``, ``message:<normalised
first line>``, ``type:<reported failure type>``), resolved against the stored samples when the
entry is first written; and, from ``memory.observe``, a human's bullet that targets a failure
cluster (``by`` ``human``, ``pull`` 0). It is persisted, not derived on every run, because what
it derives from does not last: the follow-up reads only the 30 most recently closed proposals,
and a sample can be removed (``samples rm``). Merging is a union keyed by (target, text, PR),
written sorted, so two runs never lose each other's entries and an unchanged ledger is not
committed again.

Finding a bullet's entries (``own_entry``, ``chain_of``) is here too: every reader of the
ledger (the history, the outcomes, the earlier-version context) finds them alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from prompt_trainer import workdir
from prompt_trainer.bullets import names_bullet, normalize
from prompt_trainer.errors import GitHubError
from prompt_trainer.github.records import ClosedPull
from prompt_trainer.measure.facts import message_key
from prompt_trainer.models import Record, Sample
from prompt_trainer.render.state import read_state
from prompt_trainer.store import SYNC_ATTEMPTS, BranchFiles

BULLETS = workdir.DIRNAME + "/bullets.jsonl"  # the same relative path on the data branch
#: State-block ops that put a bullet into a prompt file.
BULLET_OPS = frozenset({"add", "modify", "add_rule", "refine_rule"})
#: Hops back through ``modify`` when following a bullet to those it replaced.
MAX_CHAIN = 5
#: Who wrote a bullet that no merged proposal did (``BulletEntry.by``, and as reports show it).
HUMAN = "human"

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
                    kinds += [
                        f"test:{case.id}",
                        f"message:{message_key(case.message or case.text)}",
                    ]
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
            workdir.atomic_write(path, dumps_lines(merged))
        if read is None or branch is None or files is None or not push or merged == remote:
            return load_entries(root)
        message = f"prompt-trainer: bullet ledger, {len(merged)} entr(y/ies)"
        text = dumps_lines(merged)
        if files.write_branch_file(branch, BULLETS, text, parent=read.head, message=message):
            log(f"memory: bullet ledger on {branch}: {len(merged)} entries")
            return load_entries(root)
    raise GitHubError(
        f"the data branch {branch} kept moving while this run wrote its bullet ledger "
        f"({SYNC_ATTEMPTS} attempts)",
        fix="another prompt-trainer run is writing; give the workflow a concurrency group "
        "and run again (the local ledger under .prompt-trainer/ is intact)",
    )


def dumps_lines(lines: Iterable[str]) -> str:
    """The ledger file's text: one line each, each ended."""
    return "".join(f"{ln}\n" for ln in lines)


def dumps(entries: Iterable[BulletEntry]) -> str:
    """The entries as the ledger file holds them (for tests and tools)."""
    return dumps_lines(e.model_dump_json() for e in entries)


# -- finding a bullet's entries -----------------------------------------------------------------


def matches(entry: BulletEntry, text: str) -> bool:
    """Whether ``entry`` is the bullet ``text`` (its stored text may be a capped prefix)."""
    want = normalize(entry.text)
    return bool(want) and names_bullet(want, normalize(text))


def own_entry(entries: Iterable[BulletEntry], path: str, text: str) -> BulletEntry | None:
    """The ledger entry of the bullet ``text`` of ``path``: the latest merged proposal's that
    wrote it, else a human's."""
    own = [e for e in entries if e.path in ("", path) and matches(e, text)]
    return max(own, key=lambda e: (e.by == "bot", merged(e), e.pull), default=None)


def chain_of(text: str, entries: list[BulletEntry]) -> list[BulletEntry]:
    """The entries of the bullet ``text``, and of the bullets it replaced, oldest first."""
    found: list[BulletEntry] = []
    wanted = [text]
    for _ in range(MAX_CHAIN):
        step = [e for e in entries if any(matches(e, w) for w in wanted) and e not in found]
        if not step:
            break
        found += step
        wanted = [e.replaces for e in step if e.replaces]
    return sorted(found, key=lambda e: (merged(e), e.pull))


def when(moment: datetime | None) -> datetime:
    """``moment``, or the earliest time when there is none (for sorting)."""
    return moment or datetime.min.replace(tzinfo=UTC)


def merged(entry: BulletEntry) -> datetime:
    """When the entry's proposal was merged (the earliest time for a human's bullet)."""
    return when(entry.merged_at)


def opened(sample: Sample) -> datetime:
    """When the sample's PR opened (else when it was collected), with a time zone."""
    moment = sample.pull.created_at or sample.collected_at
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
