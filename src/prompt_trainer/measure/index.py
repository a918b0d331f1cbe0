"""An embedded SQLite index of per-sample facts, so ``report`` over 100,000 samples is fast.

The JSONL ledger stays the source of truth. The index (``.prompt-trainer/index.sqlite``) holds
``facts_of`` of every sample, its prompt versions and its pattern events, and each target's
failure clusters (``clusters.cluster_problems`` over the problems of the newest
``CLUSTER_WINDOW`` samples, made once per rebuild: a report reads them, it does not recompute
them). It records the
ledger's size and modification time; when they differ (or the index is missing, or was written
by another schema version) it is rebuilt from the ledger in one pass. A rebuild streams the
ledger line by line; lines that do not validate are counted and left out.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from pydantic import ValidationError

from prompt_trainer.measure.clusters import cluster_problems, problems_of
from prompt_trainer.measure.facts import Facts, facts_of
from prompt_trainer.measure.outcomes import ClusterFacts, problem_key, problem_texts
from prompt_trainer.models import Sample

#: 8: review themes are content words (identifiers first), file and suite errors a cluster
#: kind of their own.
SCHEMA_VERSION = "8"
EXAMPLES = 3
#: Facts columns, in ``Facts`` order (sample_id ... duration_s); versions and events have tables.
COLUMNS = tuple(name for name in Facts._fields if name not in ("versions", "events"))


_FACT_COLUMNS = ", ".join(c + (" TEXT PRIMARY KEY" if c == "sample_id" else "") for c in COLUMNS)
SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE facts ({_FACT_COLUMNS});
CREATE TABLE versions (sample_id TEXT NOT NULL, target TEXT NOT NULL, version TEXT NOT NULL);
CREATE TABLE events (
    sample_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, example TEXT NOT NULL
);
CREATE TABLE clusters (
    target TEXT NOT NULL, rank INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
    label TEXT NOT NULL, prs INTEGER NOT NULL, evidence TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE members (target TEXT NOT NULL, cluster TEXT NOT NULL, sample_id TEXT NOT NULL);
CREATE TABLE window (sample_id TEXT PRIMARY KEY);
"""
INDEXES = """
CREATE INDEX versions_by_target ON versions (target, sample_id);
CREATE INDEX versions_by_version ON versions (target, version);
CREATE INDEX versions_by_sample ON versions (sample_id, target);
CREATE INDEX events_by_kind ON events (kind, key, sample_id);
CREATE INDEX clusters_by_target ON clusters (target, rank);
CREATE INDEX members_by_target ON members (target, cluster);
"""

#: Per target, kind and key: the samples with that event and one example, computed once when
#: the index is built, so a report reads a few rows instead of grouping every event.
KEY_COUNTS_TABLE = """
CREATE TABLE key_counts AS
    SELECT v.target, e.kind, e.key, COUNT(DISTINCT e.sample_id) AS samples,
           MIN(e.example) AS example
    FROM events e JOIN versions v ON v.sample_id = e.sample_id
    GROUP BY v.target, e.kind, e.key;
CREATE INDEX key_counts_by_kind ON key_counts (target, kind, samples);
"""
KEY_COUNTS = """
    SELECT key, samples, example FROM key_counts WHERE target = ? AND kind = ?
    ORDER BY samples DESC, key LIMIT ?
"""
KEY_EXAMPLES = """
    SELECT DISTINCT e.example FROM events e
    WHERE e.kind = ? AND e.key = ?
      AND EXISTS (SELECT 1 FROM versions v WHERE v.sample_id = e.sample_id AND v.target = ?)
    LIMIT ?
"""
VERSIONS_OF_TARGET = "SELECT DISTINCT version FROM versions WHERE target = ?"
CLUSTERS_OF_TARGET = """
    SELECT id, kind, label, prs, evidence, text FROM clusters WHERE target = ? ORDER BY rank
"""
MEMBERS_OF_TARGET = "SELECT cluster, sample_id FROM members WHERE target = ?"
FACTS_OF_VERSION = f"""
    SELECT {", ".join(f"f.{c}" for c in COLUMNS)}
    FROM versions v JOIN facts f USING (sample_id)
    WHERE v.target = ? AND v.version = ? ORDER BY f.happened_at IS NULL, f.happened_at
"""  # noqa: S608 - column names are constants


@dataclass(frozen=True)
class IndexInfo:
    """What opening the index did."""

    rebuilt: bool
    samples: int
    invalid_lines: int


class SampleIndex:
    """Read access to the facts of the ledger at ``ledger``, through the index at ``path``."""

    def __init__(self, ledger: Path, path: Path) -> None:
        self.ledger, self.path = ledger, path
        self.info = self._open()

    def _stamp(self) -> str:
        if not self.ledger.exists():
            return "missing"
        stat = self.ledger.stat()
        return f"{SCHEMA_VERSION}:{stat.st_size}:{stat.st_mtime_ns}"

    def _open(self) -> IndexInfo:
        stamp = self._stamp()
        if self.path.exists():
            self.db = sqlite3.connect(self.path)
            try:
                row = self.db.execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone()
                if row and row[0] == stamp:
                    (count,) = self.db.execute("SELECT COUNT(*) FROM facts").fetchone()
                    (bad,) = self.db.execute(
                        "SELECT value FROM meta WHERE key = 'invalid'"
                    ).fetchone()
                    return IndexInfo(rebuilt=False, samples=count, invalid_lines=int(bad))
            except sqlite3.DatabaseError:
                pass
            self.db.close()
        return self._rebuild(stamp)

    def _rebuild(self, stamp: str) -> IndexInfo:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp)
        db.executescript(SCHEMA)
        count = invalid = 0
        placeholders = ", ".join("?" for _ in COLUMNS)
        latest: dict[str, int] = {}
        window = _Window()
        for sample in self._samples():
            if sample is None:
                invalid += 1
                continue
            facts = facts_of(sample)
            if facts.sample_id in latest:  # a ledger edited by hand may repeat an id: last wins
                db.execute("DELETE FROM facts WHERE sample_id = ?", (facts.sample_id,))
                db.execute("DELETE FROM versions WHERE sample_id = ?", (facts.sample_id,))
                db.execute("DELETE FROM events WHERE sample_id = ?", (facts.sample_id,))
                count -= 1
            latest[facts.sample_id] = 1
            window.add(sample, facts.happened_at or "")
            count += 1
            db.execute(
                f"INSERT INTO facts VALUES ({placeholders})",  # noqa: S608 - fixed column list
                tuple(_column(getattr(facts, c)) for c in COLUMNS),
            )
            db.executemany(
                "INSERT INTO versions VALUES (?, ?, ?)",
                [(facts.sample_id, t, v) for t, v in facts.versions.items()],
            )
            db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?)",
                [(facts.sample_id, e.kind, e.key, e.example) for e in facts.events],
            )
        _write_clusters(db, window)
        db.executescript(INDEXES)
        db.executescript(KEY_COUNTS_TABLE)
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)", [("stamp", stamp), ("invalid", str(invalid))]
        )
        db.commit()
        db.close()
        tmp.replace(self.path)
        self.db = sqlite3.connect(self.path)
        return IndexInfo(rebuilt=True, samples=count, invalid_lines=invalid)

    def _samples(self) -> Iterator[Sample | None]:
        if not self.ledger.exists():
            return
        with self.ledger.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    yield Sample.model_validate_json(line)
                except ValidationError:
                    yield None

    def close(self) -> None:
        self.db.close()

    # -- queries -----------------------------------------------------------------------------

    def facts_by_version(self, target: str) -> dict[str, list[Facts]]:
        """The facts of every sample attributed to a version of ``target``, by version hash,
        oldest first."""
        found: dict[str, list[Facts]] = {}
        for (version,) in self.db.execute(VERSIONS_OF_TARGET, (target,)).fetchall():
            tail = (MappingProxyType({target: version}), ())
            rows = self.db.execute(FACTS_OF_VERSION, (target, version))
            found[version] = [Facts._make(row + tail) for row in rows]
        return found

    def clusters(self, target: str) -> list[ClusterFacts]:
        """The failure clusters of ``target``'s samples, ranked (``clusters.cluster_samples``),
        computed when the index was built."""
        members: dict[str, set[str]] = {}
        for cluster, sample_id in self.db.execute(MEMBERS_OF_TARGET, (target,)):
            members.setdefault(cluster, set()).add(sample_id)
        return [
            ClusterFacts(
                id=cid,
                kind=kind,
                label=label,
                prs=prs,
                samples=frozenset(members.get(cid, ())),
                evidence=frozenset(json.loads(evidence)),
                text=text,
            )
            for cid, kind, label, prs, evidence, text in self.db.execute(
                CLUSTERS_OF_TARGET, (target,)
            )
        ]

    def cluster_window(self) -> frozenset[str] | None:
        """The samples the clusters were made over, when not all (``CLUSTER_WINDOW``)."""
        ids = frozenset(sid for (sid,) in self.db.execute("SELECT sample_id FROM window"))
        return ids or None

    def key_counts(
        self, target: str, kind: str, *, limit: int | None = None, examples: int = EXAMPLES
    ) -> list[tuple[str, int, tuple[str, ...]]]:
        """(key, number of samples, up to ``examples`` examples) for one event kind, over the
        samples of ``target``, most frequent first."""
        bound = (target, kind, -1 if limit is None else limit)
        rows = self.db.execute(KEY_COUNTS, bound).fetchall()
        if examples <= 1:
            return [(key, count, (first,)) for key, count, first in rows]
        return [(key, count, self.examples(target, kind, key, examples)) for key, count, _ in rows]

    def examples(self, target: str, kind: str, key: str, limit: int = EXAMPLES) -> tuple[str, ...]:
        """Up to ``limit`` distinct examples of one event key."""
        shown = self.db.execute(KEY_EXAMPLES, (kind, key, target, limit))
        return tuple(example for (example,) in shown)


#: Failure clusters are made over at most this many samples, the newest: finding every
#: sample's problems costs about as much as its facts, and the newest are what a team acts on.
CLUSTER_WINDOW = 10_000


class _Window:
    """The newest ``CLUSTER_WINDOW`` samples (by when their PR happened), kept while the index
    is built: the failure clusters are made over them."""

    def __init__(self) -> None:
        self.heap: list[tuple[str, int, Sample]] = []
        self.latest: dict[str, int] = {}
        self.seen = 0

    def add(self, sample: Sample, happened_at: str) -> None:
        self.seen += 1
        self.latest[sample.id] = self.seen  # a repeated id: the last line wins
        entry = (happened_at, self.seen, sample)
        if len(self.heap) < CLUSTER_WINDOW:
            heapq.heappush(self.heap, entry)
        elif entry > self.heap[0]:
            heapq.heapreplace(self.heap, entry)

    @property
    def full(self) -> bool:
        return len(self.latest) > CLUSTER_WINDOW

    def samples(self) -> list[Sample]:
        kept = sorted((when, n, s) for when, n, s in self.heap if self.latest[s.id] == n)
        return [sample for *_, sample in kept]


def _write_clusters(db: sqlite3.Connection, window: _Window) -> None:
    """Each target's clusters over the window's samples, and (when the ledger holds more) which
    samples the window holds."""
    samples = window.samples()
    problems = {s.id: problems_of(s) for s in samples}
    texts = {problem_key(p): t for s in samples for p, t in problem_texts(s, problems[s.id])}
    if window.full:
        db.executemany("INSERT INTO window VALUES (?)", [(s.id,) for s in samples])
    for target in sorted({t for s in samples for t in s.prompt_versions}):
        mine = [s for s in samples if target in s.prompt_versions]
        ranked = cluster_problems([p for s in mine for p in problems[s.id]], mine, target=target)
        for rank, cluster in enumerate(ranked):
            facts = ClusterFacts.of(cluster, texts)
            db.execute(
                "INSERT INTO clusters VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (target, rank, facts.id, facts.kind, facts.label, facts.prs,
                 json.dumps(sorted(facts.evidence)), facts.text),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO members VALUES (?, ?, ?)",
                [(target, cluster.id, sid) for sid in cluster.samples],
            )


def _column(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value
