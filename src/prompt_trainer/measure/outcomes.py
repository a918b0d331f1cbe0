"""Measure stage, realized outcomes: what each prompt version and each bullet did to the failure
clusters (``measure.clusters``), from the stored evidence alone (no LLM).

- ``Rate``: k of n PRs showed a cluster. Two rates are compared with Fisher's exact test
  (``stats.fisher_exact``): two-sided between versions in ``report`` (no direction is expected
  of an arbitrary cluster), one-sided for a bullet (it was written to make its clusters rarer:
  the test asks whether the rate before it was higher than after).
- ``attribute``: the version that introduced a bullet. Versions are walked in order (the
  report's order: by the date each appeared); the first whose file holds the bullet (same path,
  same normalised text) introduced it, whoever wrote it. Its "before" is every earlier version
  whose contents are known, its "after" every version from it on that still holds it; versions
  only samples name (their contents unknown) count on neither side.
- ``terms`` and ``term_targets``: which clusters a human's bullet targets. No LLM: a bullet
  targets a cluster when both name the same repository-specific term, and the term is the
  reason shown. Terms are identifiers, paths and commands: in the bullet's code spans every
  token with structure (a capital, ``_``, ``.``, ``/``, a digit, or written as a call
  ``name(``) and every command (a span of several words such as ``ruff check``); in its prose
  only tokens with inner structure (``ApiClient``, ``api_client``, ``invoices/fees.py``; not
  ``HTTP`` or ``e.g``). Plain
  words never count, in spans or not (``float``, ``tests``). A term matches a cluster's evidence
  as a whole token, case-sensitively (a command as a phrase, a call as ``name(``). A term found
  in the evidence of more than half the clusters (of three or more) names nothing in particular
  and is ignored.
- ``BulletOutcome``: a bullet's before/after rate of its clusters, the one-sided p, and what the
  curation reads of it: ``helpful`` (PRs since it without any of its clusters) and ``harmful``
  (PRs since it that still showed one: it did not prevent them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from prompt_trainer.bullets import normalize
from prompt_trainer.measure.clusters import Cluster, Problem
from prompt_trainer.measure.stats import fisher_exact
from prompt_trainer.measure.versions import Version
from prompt_trainer.models import Sample


@dataclass(frozen=True)
class Rate:
    """``hits`` of ``prs`` PRs showed the cluster(s)."""

    hits: int
    prs: int

    @property
    def value(self) -> float | None:
        return self.hits / self.prs if self.prs else None

    @property
    def text(self) -> str:
        return f"{self.hits} of {self.prs}"

    @classmethod
    def of(cls, samples: Iterable[str], hits: Iterable[str]) -> Rate:
        ids, hit = set(samples), set(hits)
        return cls(len(ids & hit), len(ids))


def change_p(before: Rate, after: Rate, *, one_sided: bool) -> float | None:
    """Fisher's exact p of ``before`` against ``after`` (one-sided: was ``before`` higher?);
    None when a side has no PRs."""
    if not before.prs or not after.prs:
        return None
    table = (before.hits, before.prs - before.hits, after.hits, after.prs - after.hits)
    return fisher_exact(*table, alternative="greater" if one_sided else "two-sided")


# -- clusters as the report keeps them --------------------------------------------------------

#: Characters of one evidence item's text, and of a cluster's text, kept for term matching.
ITEM_CHARS = 600
CLUSTER_CHARS = 6000


@dataclass(frozen=True)
class ClusterFacts:
    """A failure cluster as the index keeps it: what the report and the bullet ledger read."""

    id: str
    kind: str
    label: str
    prs: int
    samples: frozenset[str]
    #: The full evidence ids of its problems (a bot's edit citing one targets it).
    evidence: frozenset[str]
    #: Its evidence as text (messages, reviewers' words, paths), for the term rule.
    text: str

    @classmethod
    def of(cls, cluster: Cluster, texts: Mapping[str, str]) -> ClusterFacts:
        """``cluster`` with the text of its problems (``texts``: by ``problem_key``)."""
        shown = dict.fromkeys(texts.get(problem_key(p), p.label) for p in cluster.problems)
        return cls(
            id=cluster.id,
            kind=cluster.kind,
            label=cluster.label,
            prs=cluster.prs,
            samples=frozenset(cluster.samples),
            evidence=cluster.evidence(),
            text=" | ".join(shown)[:CLUSTER_CHARS],
        )


def problem_key(problem: Problem) -> str:
    return f"{problem.sample_id}\0{problem.kind}\0{problem.signature}"


def problem_texts(sample: Sample, problems: Sequence[Problem]) -> list[tuple[Problem, str]]:
    """The words behind each problem of ``sample``: its tests' messages, the reviewer's comment
    and path, the report, the trace step; its label when none of its evidence is found."""
    texts = _texts(sample)
    found = []
    for problem in problems:
        said = [texts[e] for e in problem.evidence if e in texts]
        found.append((problem, " | ".join(said)[: ITEM_CHARS * 3] if said else problem.label))
    return found


def _texts(sample: Sample) -> dict[str, str]:
    found: dict[str, str] = {}
    for run in sample.test_runs:
        for case in run.problems:
            found[case.id] = (case.message or case.text or case.type)[:ITEM_CHARS]
    for item in sample.feedback:
        words = " ".join([item.body, item.path or "", *item.suggestions])
        found[item.url or item.id] = words[:ITEM_CHARS]
    for report in sample.failures:
        found[report.id] = f"{report.description} {report.context}"[:ITEM_CHARS]
    for trace in sample.traces:
        for n, step in enumerate(trace.steps):
            if step.is_error:
                found[f"trace:{trace.source}#{n}"] = step.text[:ITEM_CHARS]
    for commit in sample.pull.human_fix:
        for file in commit.files:
            found[f"commit:{commit.sha[:12]}:{file.path}"] = file.path
    return found


@dataclass(frozen=True)
class ClusterRow:
    """One cluster's rate per measured version, and the compared pair's with Fisher's exact
    test (two-sided)."""

    cluster: ClusterFacts
    rates: tuple[Rate, ...]
    before: Rate | None = None
    after: Rate | None = None

    @property
    def p_value(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return change_p(self.before, self.after, one_sided=False)


def cluster_rows(
    clusters: Sequence[ClusterFacts],
    versions: Sequence[frozenset[str]],
    compared: tuple[frozenset[str], frozenset[str]] | None,
) -> tuple[ClusterRow, ...]:
    """Each cluster's rate in each version (``versions``: their sample ids, in order) and in
    the ``compared`` pair."""
    rows = []
    for cluster in clusters:
        rates = tuple(Rate.of(ids, cluster.samples) for ids in versions)
        pair = [Rate.of(ids, cluster.samples) for ids in compared] if compared else [None, None]
        rows.append(ClusterRow(cluster, rates, pair[0], pair[1]))
    return tuple(rows)


# -- which version introduced a bullet --------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    """The version that introduced a bullet (None: no version whose contents are known holds
    it), the known versions before it, and the versions from it on that hold it."""

    introduced: Version | None
    before: tuple[Version, ...] = ()
    holding: tuple[Version, ...] = ()


def attribute(versions: Sequence[Version], path: str, text: str) -> Attribution:
    """Walk ``versions`` (oldest first): the first whose ``path`` holds the bullet introduced it."""
    key = (path, normalize(text))
    known = [v for v in versions if v.known]
    for n, version in enumerate(known):
        if key in version.bullets:
            holding = tuple(v for v in known[n:] if key in v.bullets)
            return Attribution(version, tuple(known[:n]), holding)
    return Attribution(None)


# -- which clusters a human's bullet targets --------------------------------------------------

CODE_SPAN = re.compile(r"`([^`\n]+)`")
TOKEN = re.compile(r"[A-Za-z_][\w.:/-]*[\w/]|[A-Za-z_]")
#: A command: a code span of a tool and its arguments (``ruff check``, ``npm run lint``).
COMMAND = re.compile(r"^[a-z][\w.-]*(?: [\w./=:-]+)+$")
#: A term in more than this share of the clusters (of at least ``MIN_CLUSTERS``) is ignored.
COMMON_SHARE = 0.5
MIN_CLUSTERS = 3


def _structured(token: str, *, in_code: bool) -> bool:
    """An identifier or path: inner structure anywhere (``_``, ``/``, a dotted name, a capital
    after a lower-case letter), or in code also a capital or a digit. An acronym in prose
    (``HTTP``) is a word."""
    if not any(c.isalpha() for c in token):
        return False
    if any(c in token for c in "_/") or re.search(r"\w{2}\.\w{2}", token):
        return True
    if re.search(r"[a-z][A-Z]", token):
        return True
    return in_code and (any(c.isupper() for c in token) or any(c.isdigit() for c in token))


def terms(text: str) -> tuple[str, ...]:
    """The repository-specific terms of a bullet, in order (module docstring: the rule)."""
    found: list[str] = []
    for span in CODE_SPAN.findall(text):
        if COMMAND.match(span.strip()):
            found.append(span.strip())
        for match in TOKEN.finditer(span):
            token = match.group().rstrip(".:-")
            call = span[match.end() : match.end() + 1] == "("
            if _structured(token, in_code=True):
                found.append(token)
            elif call and len(token) > 2:
                found.append(f"{token}(")
    prose = CODE_SPAN.sub(" ", text)
    found += [t.rstrip(".:-") for t in TOKEN.findall(prose) if _structured(t, in_code=False)]
    return tuple(dict.fromkeys(t for t in found if len(t) > 1))


def mentions(term: str, text: str) -> bool:
    """Whether ``text`` names ``term``: as a whole token, a call (``name(``) or a phrase."""
    if term.endswith("(") or " " in term:
        return re.search(rf"(?<![\w.]){re.escape(term)}", text) is not None
    return re.search(rf"(?<![\w./-]){re.escape(term)}(?![\w/-])", text) is not None


def term_targets(bullet: str, evidence: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """{cluster id: the terms the bullet shares with that cluster's evidence text}, for the
    clusters of ``evidence`` ({cluster id: its evidence as text}) the bullet names."""
    shared = {
        cluster: tuple(t for t in terms(bullet) if mentions(t, text))
        for cluster, text in evidence.items()
    }
    if len(evidence) >= MIN_CLUSTERS:
        counts: dict[str, int] = {}
        for found in shared.values():
            for term in found:
                counts[term] = counts.get(term, 0) + 1
        common = {t for t, n in counts.items() if n > COMMON_SHARE * len(evidence)}
        shared = {c: tuple(t for t in found if t not in common) for c, found in shared.items()}
    return {cluster: found for cluster, found in shared.items() if found}


def shares(found: Sequence[str]) -> str:
    """The reason a human's bullet targets a cluster: ``shares `ApiClient`, `api_client.py```."""
    return "shares " + ", ".join(f"`{t}`" for t in found)


# -- what a bullet did ------------------------------------------------------------------------


@dataclass(frozen=True)
class BulletOutcome:
    """A bullet's clusters before it and since, with the one-sided Fisher p (did they fall?)."""

    before: Rate
    after: Rate

    @property
    def p_value(self) -> float | None:
        return change_p(self.before, self.after, one_sided=True)

    @property
    def helpful(self) -> int:
        """PRs that ran with the bullet and showed none of its clusters."""
        return self.after.prs - self.after.hits

    @property
    def harmful(self) -> int:
        """PRs that ran with the bullet and still showed one of its clusters."""
        return self.after.hits

    def verdict(self, *, min_after: int) -> str:
        """``fell``, ``did not fall``, ``still occurs`` (no PR before it to compare with, but its
        clusters came back), ``no recurrence``, or ``too few PRs since``."""
        if self.after.prs < min_after:
            return "too few PRs since"
        if not self.before.prs:
            return "still occurs" if self.after.hits else "no recurrence"
        if (self.after.value or 0.0) < (self.before.value or 0.0):
            return "fell"
        return "did not fall"

    @property
    def counts(self) -> str:
        """``4 of 6 PRs before, 1 of 6 since (p = 0.12, one-sided Fisher)``."""
        p = self.p_value
        shown = f" (p = {p:.2g}, one-sided Fisher)" if p is not None else ""
        return f"{self.before.text} PRs before, {self.after.text} since{shown}"

    def summary(self, *, min_after: int) -> str:
        """``counts`` and the verdict: ``...: fell``."""
        return f"{self.counts}: {self.verdict(min_after=min_after)}"


@dataclass(frozen=True)
class MergeOutcome:
    """What one earlier merged proposal did: the clusters its bullets targeted, and how often
    any of them occurred on the versions before it and on those since."""

    pull: int
    merged_at: datetime | None
    bullets: int
    clusters: tuple[str, ...]
    outcome: BulletOutcome


@dataclass(frozen=True)
class BulletRow:
    """One bullet of the current prompt files, as ``report`` shows it: the version that
    introduced it, who wrote it, the clusters it targets (label, reason) and what it did."""

    path: str
    number: int
    text: str
    introduced: str | None
    by: str
    targets: tuple[tuple[str, str], ...]
    outcome: BulletOutcome | None
