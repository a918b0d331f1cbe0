"""Measure stage: failure clusters, the kinds of failure stored samples show (no LLM).

Takes ``Sample`` records; returns ``Problem`` values (one sample's problems) and ranked
``Cluster`` values (one kind of failure across samples). The trainer reflects once per cluster
and counts an edit's support in PRs of its cluster; ``report`` gives each cluster's rate per
prompt version.

``problems_of(sample)`` lists what went wrong in one PR, each with a kind, a signature (the
normalised key within the kind) and the full evidence ids the trainer's view gives the same items
(``train.evidence.evidence_ids``: a test id, a review comment's URL, ``trace:<source>#<step>``,
``commit:<sha>:<path>``, a reported failure's id):

- ``test``: a failed or erroring test (not flaky), its message normalised by
  ``facts.normalize_message`` (the test id when there is no message). A cancelled test (node's
  runner: cancelled by its parent, timed out) is not a failure and no problem;
- ``suite``: an error of a whole test file or suite (``TestCase.suite_error``: a file that
  failed to import, an ``afterAll`` that threw), which the tools count apart from tests: a kind
  of its own, since its cause (a broken import, a fixture) is not what an assertion says, and
  it is keyed like a test's message;
- ``error``: an error step of the agent's trace, ``<tool>: <normalised text>``, or the run's end
  in error, ``end: <normalised text>``;
- ``trace``: a loop in the trace (the same tool call three or more times);
- ``review``: a trusted reviewer's words other than a bare approval: the comment's keywords
  (``facts.keywords``), or ``path:<file>`` when it has none. An explicit request (a review that
  requests changes, or a ```suggestion block) is a ``trusted_request``;
- ``reported``: a failure a person with write access reported (``report-failure``), a
  ``trusted_request`` too: ``<type>: <normalised description>``;
- ``fix``: a file of the human's fix (commits people pushed after the agent's last): its path.

``cluster_samples(samples)`` groups them in three steps:

1. Machine-made problems (test, error, trace) cluster per kind as the report's patterns do:
   similar signatures join the most frequent one (``patterns.message_heads``).
2. People's problems (review, reported, fix) join the machine cluster of the same sample whose
   problem shares the most content words with them (identifiers split: ``BillingHttpClient``
   gives billing, client; a word and its longer form of five letters or more count as one:
   round and rounding, quantize and quantized; ``overlap``), when they share one: "float
   arithmetic here is why the rounding test fails" joins the rounding failure it explains, not
   the timeout of the same PR.
3. The rest cluster within their kind: review comments by theme (``patterns.theme_of``, the
   comment's keyword most frequent across all comments), reported failures by similar
   description, fixes by path.

A cluster's id (``<kind>:<slug>-<hash>``) is made from its kind and head signature, so the same
evidence gives the same ids on every machine and run. Clusters are ranked by distinct PRs, then by
their newest occurrence. A cluster is ``supported`` (an edit for it may be proposed) when it was
seen in ``MIN_PRS`` or more PRs or a trusted reviewer explicitly asked for the change.

The trace's loops and terminal error come from ``measure.trace_marks``, which the evidence view
(``train.trace_events``) reads too, so that the ids are those the view shows.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from prompt_trainer.measure.facts import (
    STOPWORDS,
    counted_feedback,
    happened,
    keywords,
    normalize_message,
)
from prompt_trainer.measure.patterns import message_heads, theme_of
from prompt_trainer.measure.trace_marks import loops, terminal
from prompt_trainer.models import Feedback, Sample

MACHINE = ("test", "suite", "error", "trace")
PEOPLE = ("review", "reported", "fix")
KIND_LABELS = {
    "test": "failing test",
    "suite": "suite error",
    "error": "agent error",
    "trace": "agent loop",
    "review": "review",
    "reported": "reported",
    "fix": "human fix",
}
#: A cluster seen in this many PRs supports an edit (one trusted request does too).
MIN_PRS = 2
#: Evidence ids kept per problem: a failure group of the view shows its first three tests.
MAX_EVIDENCE = 3
#: Files of the human fix the view shows (``train.evidence.MAX_FIX_FILES``).
MAX_FIX_FILES = 8
LABEL_CHARS = 160
#: Words too common in failure text to tie a comment to a failure.
GENERIC = frozenset(
    """
    test tests assert assertion assertionerror error errors exception module attribute object
    none true false self line file files type value values expected actual fail fails failed
    failing failure traceback return returns call calls code python https http www com
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_PLACEHOLDER = re.compile(r"<\w+>")


class Problem(BaseModel):
    """One problem of one sample (a failing test, a reviewer's point, an agent error...)."""

    model_config = ConfigDict(frozen=True)

    sample_id: str
    kind: str
    #: The normalised key within the kind (message, keywords, path, error kind).
    signature: str
    #: Short human-readable text for reports and prompts.
    label: str
    #: Full evidence ids, as ``train.evidence.evidence_ids`` gives them.
    evidence: tuple[str, ...]
    #: A trusted person explicitly asked for a change (changes requested, a suggestion, a
    #: reported failure).
    trusted_request: bool = False
    #: The reviewer or reporter ("" for machine-made problems).
    author: str = ""
    #: Content words (identifiers split), to tie people's words to the failure they explain.
    words: frozenset[str] = frozenset()


class Cluster(BaseModel):
    """One kind of failure across samples, ranked by how many PRs show it and how recently."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    label: str
    #: Sample ids showing it, newest first.
    samples: tuple[str, ...]
    #: Distinct PRs showing it.
    prs: int
    last_seen: datetime
    #: Prompt versions under which it occurred (of ``target`` when given), newest first.
    versions: tuple[str, ...]
    #: Explicit requests by trusted people, counted once per person and PR.
    trusted_requests: int
    #: Trusted reviewers and reporters who spoke about it.
    reviewers: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def supported(self) -> bool:
        """Enough support for an edit: ``MIN_PRS`` PRs, or one trusted explicit request."""
        return self.prs >= MIN_PRS or self.trusted_requests >= 1

    @property
    def support(self) -> str:
        """``4 PRs, 2 trusted requests (maria, olek)``."""
        text = f"{self.prs} PR{'s' if self.prs != 1 else ''}"
        if self.trusted_requests:
            n = self.trusted_requests
            text += f", {n} trusted request{'s' if n != 1 else ''}"
        if self.reviewers:
            text += f" ({', '.join(self.reviewers)})"
        return text

    def evidence_of(self, sample_id: str) -> tuple[str, ...]:
        """The evidence ids of this cluster's problems in one sample."""
        found = (e for p in self.problems if p.sample_id == sample_id for e in p.evidence)
        return tuple(dict.fromkeys(found))

    def evidence(self) -> frozenset[str]:
        """Every evidence id of its problems."""
        return frozenset(e for p in self.problems for e in p.evidence)


# -- one sample's problems --------------------------------------------------------------------


def problems_of(sample: Sample) -> list[Problem]:
    """Every problem of ``sample``: failing tests, agent errors and loops, trusted reviewers'
    points, reported failures and the human fix's files."""
    return [
        *_tests(sample),
        *_errors(sample),
        *_reviews(sample),
        *_reported(sample),
        *_fixes(sample),
    ]


def words_of(*texts: str) -> frozenset[str]:
    """Content words of ``texts``: identifiers lowercased whole and split at ``_`` and at
    capitals, at least four letters, without stopwords and words common in any failure."""
    return frozenset().union(*(_text_words(t) for t in texts))


@functools.lru_cache(maxsize=8192)
def _text_words(text: str) -> frozenset[str]:
    """``words_of`` one text (failure messages repeat across thousands of samples: cached)."""
    found: set[str] = set()
    for token in _IDENT.findall(text):
        parts = {token, *token.split("_")}
        parts |= {c for p in list(parts) for c in _CAMEL.findall(p)}
        found |= {w for p in parts if len(w := p.lower().strip("_")) >= 4}
    return frozenset(found - STOPWORDS - GENERIC)


#: Two words are one when the shorter, at least this long, starts the longer.
STEM = 5


def overlap(mine: frozenset[str], theirs: frozenset[str]) -> int:
    """How many of ``mine`` occur in ``theirs``, a word counting when it equals one of theirs or
    one is the start of the other and the shorter has ``STEM`` letters or more (rounding and
    round; quantized and quantize)."""
    return sum(1 for w in mine if w in theirs or any(_same_stem(w, t) for t in theirs))


def _same_stem(a: str, b: str) -> bool:
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= STEM and long.startswith(short)


def _first_line(text: str) -> str:
    return next((ln for ln in text.splitlines() if ln.strip()), "")


def _tests(sample: Sample) -> list[Problem]:
    """Failed and erroring tests (``test``) and file or suite errors (``suite``) by normalised
    message; ``TestRun.problems`` holds no cancelled or skipped test."""
    grouped: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for run in sample.test_runs:
        for case in run.problems:
            if case.flaky:
                continue
            text = case.message or case.text or case.type
            signature = normalize_message(text) or case.id
            kind = "suite" if case.suite_error else "test"
            grouped.setdefault((kind, signature), []).append((case.id, _first_line(text)))
    return [
        Problem(
            sample_id=sample.id,
            kind=kind,
            signature=signature,
            label=_label(kind, signature),
            evidence=tuple(dict.fromkeys(i for i, _ in cases))[:MAX_EVIDENCE],
            words=words_of(*(f"{i} {m}" for i, m in cases)),
        )
        for (kind, signature), cases in grouped.items()
    ]


def _errors(sample: Sample) -> list[Problem]:
    found: list[Problem] = []
    for trace in sample.traces:
        steps = [
            (f"trace:{trace.source}#{n}", f"{s.tool or 'step'}: ", s.text)
            for n, s in enumerate(trace.steps)
            if s.is_error
        ]
        steps += [(e.id, "end: ", e.text) for e in terminal(trace)]
        for evidence, head, text in steps:
            signature = head + (normalize_message(text) or "error")
            found.append(_machine(sample, "error", signature, evidence, text))
        for loop in loops(trace):
            signature = f"loop: {loop.tool}: {normalize_message(loop.text)}"
            found.append(_machine(sample, "trace", signature, loop.id, loop.text))
    return _merged(found)


def _machine(sample: Sample, kind: str, signature: str, evidence: str, text: str) -> Problem:
    return Problem(
        sample_id=sample.id,
        kind=kind,
        signature=signature,
        label=_label(kind, signature),
        evidence=(evidence,),
        words=words_of(_first_line(text)),
    )


def _merged(problems: list[Problem]) -> list[Problem]:
    """Problems of one sample with the same kind and signature as one, evidence joined."""
    by_key: dict[tuple[str, str], Problem] = {}
    for p in problems:
        old = by_key.get((p.kind, p.signature))
        if old is None:
            by_key[(p.kind, p.signature)] = p
            continue
        by_key[(p.kind, p.signature)] = old.model_copy(
            update={
                "evidence": tuple(dict.fromkeys((*old.evidence, *p.evidence)))[:MAX_EVIDENCE],
                "words": old.words | p.words,
                "trusted_request": old.trusted_request or p.trusted_request,
            }
        )
    return list(by_key.values())


def _remark(item: Feedback) -> bool:
    """Trusted words that are more than a bare approval."""
    if not counted_feedback(item):
        return False
    return (item.state or "").upper() != "APPROVED" or bool(item.path or item.suggestions)


def _reviews(sample: Sample) -> list[Problem]:
    found: list[Problem] = []
    for item in sample.feedback:
        if not _remark(item):
            continue
        words = keywords(item.body)
        signature = " ".join(words) or (f"path:{item.path}" if item.path else "")
        if not signature:
            continue
        asked = (item.state or "").upper() == "CHANGES_REQUESTED" or bool(item.suggestions)
        found.append(
            Problem(
                sample_id=sample.id,
                kind="review",
                signature=signature,
                label=_label("review", " ".join(words[:4]) or signature),
                evidence=(item.url or item.id,),
                trusted_request=asked,
                author=item.author,
                words=words_of(item.body, *item.suggestions),
            )
        )
    return found


def _reported(sample: Sample) -> list[Problem]:
    return [
        Problem(
            sample_id=sample.id,
            kind="reported",
            signature=(signature := f"{f.type}: {normalize_message(f.description)}"),
            label=_label("reported", signature),
            evidence=(f.id,),
            trusted_request=True,
            author=f.author,
            words=words_of(f.description, f.context),
        )
        for f in sample.failures
    ]


def _fixes(sample: Sample) -> list[Problem]:
    files = [
        (f"commit:{c.sha[:12]}:{f.path}", f.path, c.author)
        for c in reversed(sample.pull.human_fix)  # the latest fix first, as the view shows
        for f in c.files
    ][:MAX_FIX_FILES]
    return _merged(
        [
            Problem(
                sample_id=sample.id,
                kind="fix",
                signature=path,
                label=_label("fix", path),
                evidence=(evidence,),
                author=author,
                words=words_of(path.replace("/", " ").replace(".", " ")),
            )
            for evidence, path, author in files
        ]
    )


def _label(kind: str, text: str) -> str:
    label = f"{KIND_LABELS[kind]}: {' '.join(text.split())}"
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


# -- clusters ------------------------------------------------------------------------------------

Key = tuple[str, str]  # (the cluster's kind, its head signature)


def cluster_samples(samples: Sequence[Sample], *, target: str | None = None) -> list[Cluster]:
    """The failure clusters of ``samples``, ranked: more PRs first, then the newest.
    ``target`` names whose prompt versions ``Cluster.versions`` lists (all of a sample's
    versions when None)."""
    problems = [p for s in samples for p in problems_of(s)]
    return cluster_problems(problems, samples, target=target)


def cluster_problems(
    problems: Sequence[Problem], samples: Sequence[Sample], *, target: str | None = None
) -> list[Cluster]:
    """``cluster_samples`` over problems already found: the report's index keeps each sample's
    problems, and passes ``samples`` that hold only what a cluster reads of them (the id, the
    PR's link and dates, the prompt versions)."""
    problems = list(problems)
    keys = _machine_keys(problems)
    sizes = Counter(keys.values())
    machine: dict[str, list[Problem]] = {}
    for p in problems:
        if p.kind in MACHINE:
            machine.setdefault(p.sample_id, []).append(p)
    for p in problems:
        if p.kind in PEOPLE:
            attached = _attach(p, machine.get(p.sample_id, []), keys, sizes)
            if attached is not None:
                keys[_pkey(p)] = attached
    keys |= _people_keys([p for p in problems if _pkey(p) not in keys])
    members: dict[Key, list[Problem]] = {}
    for p in problems:
        members.setdefault(keys[_pkey(p)], []).append(p)
    by_id = {s.id: s for s in samples}
    found = [_cluster(key, found, by_id, target) for key, found in members.items()]
    return sorted(found, key=lambda c: (-c.prs, -c.last_seen.timestamp(), c.id))


def clusters_of_sample(clusters: Sequence[Cluster], sample_id: str) -> list[Cluster]:
    """The clusters ``sample_id`` shows, in the given (ranked) order."""
    return [c for c in clusters if sample_id in c.samples]


def _pkey(problem: Problem) -> tuple[str, str, str]:
    return (problem.sample_id, problem.kind, problem.signature)


def _rows(problems: Iterable[Problem]) -> list[tuple[str, int, tuple[str, ...]]]:
    """(signature, samples showing it, ()) per signature, for ``patterns``."""
    seen: dict[str, set[str]] = {}
    for p in problems:
        seen.setdefault(p.signature, set()).add(p.sample_id)
    return [(sig, len(ids), ()) for sig, ids in seen.items()]


def _machine_keys(problems: list[Problem]) -> dict[tuple[str, str, str], Key]:
    keys: dict[tuple[str, str, str], Key] = {}
    for kind in MACHINE:
        mine = [p for p in problems if p.kind == kind]
        heads = message_heads(_rows(mine))
        keys |= {_pkey(p): (kind, heads[p.signature]) for p in mine}
    return keys


def _attach(
    person: Problem,
    problems: list[Problem],
    keys: dict[tuple[str, str, str], Key],
    sizes: Counter[Key],
) -> Key | None:
    """The machine cluster of ``problems`` (those of the person's sample) whose problem shares
    the most words with ``person``'s (then the larger cluster); None when none shares a word."""
    best: tuple[int, int, str] | None = None
    chosen: Key | None = None
    for p in problems:
        shared = overlap(person.words, p.words)
        key = keys[_pkey(p)]
        rank = (shared, sizes[key], "".join(key))
        if shared and (best is None or rank > best):
            best, chosen = rank, key
    return chosen


def _people_keys(problems: list[Problem]) -> dict[tuple[str, str, str], Key]:
    """Unattached people's problems: reviews by theme, reports by similar description, fixes
    by path."""
    keys: dict[tuple[str, str, str], Key] = {}
    reviews = [p for p in problems if p.kind == "review"]
    themes = theme_of([(s, n, e) for s, n, e in _rows(reviews) if not s.startswith("path:")])
    keys |= {_pkey(p): ("review", themes.get(p.signature, p.signature)) for p in reviews}
    reported = [p for p in problems if p.kind == "reported"]
    heads = message_heads(_rows(reported))
    keys |= {_pkey(p): ("reported", heads[p.signature]) for p in reported}
    keys |= {_pkey(p): ("fix", p.signature) for p in problems if p.kind == "fix"}
    return keys


def cluster_id(kind: str, head: str) -> str:
    """``<kind>:<slug>-<hash>``: a few words of the head signature and a hash of it."""
    words = re.findall(r"[a-z0-9]+", _PLACEHOLDER.sub(" ", head.lower()))
    slug = "-".join(words[:5])[:40].strip("-") or kind
    digest = hashlib.sha256(f"{kind}\0{head}".encode()).hexdigest()[:8]
    return f"{kind}:{slug}-{digest}"


def _cluster(
    key: Key, problems: list[Problem], samples: dict[str, Sample], target: str | None
) -> Cluster:
    kind, head = key
    shown = sorted({p.sample_id for p in problems}, key=lambda i: _newest(samples[i]))
    versions = [
        v
        for i in shown
        for t, v in sorted(samples[i].prompt_versions.items())
        if target is None or t == target
    ]
    asked = {(p.sample_id, p.author) for p in problems if p.trusted_request}
    return Cluster(
        id=cluster_id(kind, head),
        kind=kind,
        label=_cluster_label(kind, head, problems),
        samples=tuple(shown),
        prs=len({_pr(samples[i]) for i in shown}),
        last_seen=max(happened(samples[i]) for i in shown),
        versions=tuple(dict.fromkeys(versions)),
        trusted_requests=len(asked),
        reviewers=tuple(sorted({p.author for p in problems if p.author and p.kind != "fix"})),
        problems=tuple(problems),
    )


def _newest(sample: Sample) -> tuple[float, str]:
    return (-happened(sample).timestamp(), sample.id)


def _pr(sample: Sample) -> str:
    pull = sample.pull
    return pull.url or (f"#{pull.number}" if pull.number is not None else sample.id)


def _cluster_label(kind: str, head: str, problems: list[Problem]) -> str:
    """The head's label; a machine cluster names the reviewers' commonest words beside it."""
    if kind == "review":
        one = len({p.signature for p in problems}) == 1
        return problems[0].label if one else _label("review", head.removeprefix("path:"))
    label = _label(kind, head)
    said = Counter(
        w for p in problems if p.kind == "review" for w in p.signature.split()[:4]
    ).most_common(3)
    if not said:
        return label
    extra = f" (reviews: {', '.join(w for w, _ in said)})"
    return (
        (label[: LABEL_CHARS - len(extra)] + extra)
        if len(label + extra) > LABEL_CHARS
        else label + extra
    )
