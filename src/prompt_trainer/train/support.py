"""Propose only what the evidence supports: the deterministic rule every edit must pass.

Takes an edit's text, the full evidence ids it cites (resolved by ``EvidenceIndex``), the
cluster it says it addresses and the run's ``Evidence`` (``train.plan``); returns the cluster
that supports it, or why it is dropped. An edit (an ``evolve`` edit, a ``rules`` rule, a bullet
or subagent a ``rewrite`` adds) must:

1. cite problem evidence: a failure, an agent error, a trusted reviewer's words, a reported
   failure or a human fix (a ``Problem``'s evidence, ``measure.clusters``), not the task, the
   changed files or the agent's ordinary steps;
2. address a cluster with support: seen in ``MIN_PRS`` (2) or more PRs, or explicitly asked for
   by one trusted reviewer (changes requested, a suggestion, a reported failure). A cluster that
   no longer occurs under the current prompts supports nothing;
3. be about what it cites: share a content word (identifiers split, a word and its longer
   form alike: ``measure.clusters.words_of``, ``overlap``) with what the cited items say, with
   its cluster's problems' own words, or with the other problems of the cited PRs whose cluster
   comes with this one in 2 or more PRs (a vitest message ``expected 89.99000000000001 to be
   89.99`` has no words; the reviewer's "use the cents helpers in src/money.ts" on the same
   PRs has), never with an item's URL, author or
   kind, nor a cluster's label (``excerpt_texts``); a Decimal rule citing a timeout test does
   not;
4. name something specific to this repository (``add``/``modify``/``add_subagent``): a path, an
   identifier, a command or flag in code form, a word the cluster's evidence writes as code
   (``Decimal`` of ``Decimal('10.00')``), or a command line tool the evidence writes (``tsc``,
   ``npm test``: ``TOOLS``), outside any URL and other than a bare top folder; a `backticked`
   span counts only when it is code by the other forms or the evidence writes it, never when
   it is a prompt file of the target (`CLAUDE.md`) or a bare everyday word (`tests`, `git`).
   "Always be careful and write correct code.", "Follow the code style in `invoices/`." and
   "Always write good `tests` for rounding." do not.

These hold whatever a model says; the batched check (``train.check``) asks the model the same
questions on top. ``excerpts`` quotes cited items (capped) for the curation and the check. No DSPy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from prompt_trainer.measure.clusters import Cluster, overlap, words_of
from prompt_trainer.models import PromptSet
from prompt_trainer.train.evidence import EvidenceSample, cited_items, evidence_paths
from prompt_trainer.train.plan import Evidence
from prompt_trainer.train.views import (
    ChangedFile,
    Event,
    Excerpt,
    FailureGroup,
    FixPatch,
    ReportedFailure,
    ReviewNote,
    Task,
)

#: Characters of one quoted item.
EXCERPT_CHARS = 300
#: Code-like text: `backticks`, a path or file name, snake_case, CamelCase, a call, a dotted
#: name, a --flag, an UPPER_CASE constant. A path starts only where its run starts (from every
#: ``-`` or ``.`` of a long run it was read again: quadratic).
CODE = re.compile(
    r"`[^`]+`"
    r"|\b[A-Za-z_]\w+\.[A-Za-z_]\w+"
    r"|(?<![\w.-])[\w.-]++/[\w./-]*"
    r"|\b\w+\.(?:py|js|ts|tsx|go|rs|java|rb|md|json|ya?ml|toml|sh|cfg|ini|sql|txt)\b"
    r"|\b[a-z0-9]+_[a-z0-9_]+\b"
    r"|\b[A-Z][a-z0-9]+[A-Z]\w*"
    r"|\b[a-z]+[A-Z]\w*"
    r"|\b\w+\("
    r"|(?<!\w)--?[a-z][\w-]+"
    r"|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A URL (``https://github.com/example/invoices/pull/29#discussion_r291``) or a host name
#: (``billing.example.com:443``): where something is, not what it is about. A review's URL
#: names the forge, the repository and "pull"; a host in a time-out's message names the service.
URL = re.compile(
    r"\b[a-z][a-z0-9+.-]*://\S+"
    r"|(?<![\w.@/-])(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|app|cloud|internal)\b(?::\d+)?",
    re.IGNORECASE,
)
#: Words of everyday prose that commands write too (``check`` of `ruff check --fix`, ``pull``
#: and ``request`` of a URL): an edit that says one of them names nothing by it.
PROSE = frozenset(
    """
    check fix run test tests build install format lint update start stop remove open close
    commit push pull request review merge clean help list show init sync make write read
    work code error errors change changes file files before after always never each every
    """.split()  # noqa: SIM905 - a word list reads better as text
)
#: Words that name nothing of one repository even in backticks: every repository has them.
EVERYWHERE = PROSE | frozenset(
    """
    git github gitlab ci pr prs repo repository main master branch branches tests types
    """.split()  # noqa: SIM905 - a word list reads better as text
)
#: Command line tools: an edit that names one the evidence writes (``Run npm test locally``, a
#: reviewer's "please run npm test") names a command even without backticks. The tools whose
#: name is also an everyday word (``make``, ``go``, ``just``, ``node``) count only as a phrase
#: the evidence writes too (``make lint``, ``go test``: ``PHRASE_ONLY``).
TOOLS = frozenset(
    """
    npm npx pnpm yarn bun deno node tsc eslint prettier vitest jest mocha playwright cypress
    go gofmt golangci cargo rustfmt clippy make cmake ctest bazel just gradle mvn dotnet
    pip uv tox nox poetry pdm hatch ruff mypy pyright pytest flake8 black isort pylint
    bundle rake rspec rubocop composer phpunit mix docker kubectl helm terraform
    """.split()  # noqa: SIM905 - a word list reads better as text
)
PHRASE_ONLY = frozenset({"go", "make", "just", "node", "bundle", "mix", "black"})


#: PRs two clusters must share for the other's words to tell what this one is about.
TOGETHER = 2


@dataclass(frozen=True)
class Supported:
    """The cluster an edit addresses, and its support as text."""

    cluster: Cluster

    @property
    def support(self) -> str:
        return self.cluster.support


def support_of(
    text: str,
    cited: Sequence[str],
    evidence: Evidence,
    *,
    named: str = "",
    op: str = "add",
    prompts: Iterable[str] = (),
) -> Supported | str:
    """The cluster that supports an edit writing ``text`` and citing ``cited`` (full ids), or
    why it is dropped. ``named`` is the cluster id the model gave, used when its cited problem
    evidence belongs to it; ``prompts`` are the target's prompt file paths (naming one is not
    naming something of the repository)."""
    everywhere = [*evidence.clusters, *(c for c, _ in evidence.left_out)]
    owners = {c.id: c for c in everywhere if c.evidence() & set(cited)}
    if not owners:
        return f"cites no problem evidence ({what_it_cites(cited)})"
    cluster = owners.get(named) or max(owners.values(), key=_strength)
    if cluster not in evidence.clusters:
        return f"its cluster ({cluster.label}) no longer occurs under the current prompts"
    if not cluster.supported:
        return (
            f"not enough support: {cluster.label} is {cluster.support}; an edit needs 2 PRs "
            "of its kind or a trusted reviewer's explicit request"
        )
    shown = excerpt_texts(evidence.views, cited)
    paths = _paths(evidence)
    own = _own_words(cluster, evidence, cited, everywhere, top_folders(paths))
    if not related(text, shown, own):
        return f"is not about what it cites: shares no word with {cluster.label} or its evidence"
    quoted = [*shown, *_cluster_texts(cluster, evidence)]
    if op != "remove" and not specific(text, quoted, paths=paths, prompts=prompts):
        return "names nothing specific to this repository (a path, an identifier, a command)"
    return Supported(cluster)


def prompt_paths(current: PromptSet) -> tuple[str, ...]:
    """The target's prompt file paths, for ``support_of``."""
    return tuple(dict.fromkeys([current.main.path, *(f.path for f in current.files)]))


def _paths(evidence: Evidence) -> list[str]:
    """The paths the run's evidence is about or writes (a test's file, a reviewed file, a path
    in an error message), where the repository's top folders are read from."""
    views = list(evidence.views.values())
    about = [p for found in evidence_paths(views).values() for p in found]
    said = (without_urls(describe(item)[1]) for v in views for item in cited_items(v))
    return about + [m for text in said for m in CODE.findall(text) if "/" in m]


def _cluster_texts(cluster: Cluster, evidence: Evidence) -> list[str]:
    """The quoted text of the cluster's problem items (where code names may be written)."""
    return excerpt_texts(evidence.views, sorted(cluster.evidence()))


def _strength(cluster: Cluster) -> tuple[bool, int, int]:
    return (cluster.supported, cluster.prs, cluster.trusted_requests)


def what_it_cites(cited: Sequence[str]) -> str:
    """``the task``, ``changed files``, ``trace steps``... for the drop reason."""
    kinds = []
    for c in cited:
        if c.endswith(":task"):
            kinds.append("the task")
        elif c.startswith("file:"):
            kinds.append("changed files")
        elif c.startswith("trace:"):
            kinds.append("the agent's ordinary steps")
        else:
            kinds.append("no problem of any cluster")
    return ", ".join(dict.fromkeys(kinds)) or "nothing"


def related(text: str, evidence: Iterable[str], own: frozenset[str]) -> bool:
    """Whether ``text`` shares a content word with the cited items or the cluster's problems'
    own words (``_own_words``; never their labels: "failing test:", "review:" are no
    evidence)."""
    return overlap(words_of(text), words_of(*evidence) | own) > 0


def _own_words(
    cluster: Cluster,
    evidence: Evidence,
    cited: Sequence[str],
    everywhere: Sequence[Cluster],
    tops: set[str],
) -> frozenset[str]:
    """The content words of the cluster's problems and of the other problems of the PRs the
    cited items are of, of a cluster seen with this one in ``TOGETHER`` or more PRs (a
    reviewer's words beside a failure with none, every time it fails: they are about the same
    thing; a problem that once shared a PR with it is not), but those that their evidence
    writes only inside a URL or a host name (``billing`` of ``billing.example.com`` in a
    time-out). The other problems' words never include a top folder (``tops``: `invoices` of
    `invoices/reminders.py` says where, not what)."""
    prs = {p.sample_id for c in everywhere for p in c.problems if set(p.evidence) & set(cited)}
    mine = {p.sample_id for p in cluster.problems}
    beside = [
        c
        for c in everywhere
        if c.id != cluster.id and len(mine & {p.sample_id for p in c.problems}) >= TOGETHER
    ]
    others = [p for c in beside for p in c.problems if p.sample_id in prs]
    problems = [*cluster.problems, *others]
    ids = {e for p in problems for e in p.evidence}
    said = [f"{_subject(e.id)} {e.text}" for e in excerpts(evidence.views, ids)]
    where = words_of(*(m.group(0) for t in said for m in URL.finditer(t)))
    only_there = where - words_of(*(without_urls(t) for t in said))
    theirs = frozenset(w for p in others for w in p.words) - tops
    return (frozenset(w for p in cluster.problems for w in p.words) | theirs) - only_there


def specific(
    text: str, evidence: Iterable[str], *, paths: Iterable[str] = (), prompts: Iterable[str] = ()
) -> bool:
    """Whether ``text`` names something of this repository: code-like text (``_names``), a word
    the evidence writes as code (``Decimal`` of ``Decimal('10.00')``) other than a word of
    everyday prose (``PROSE``: "double-check" is not `ruff check`), or a command line tool the
    evidence writes (``_tool_written``). What a URL says does not count (a review's URL names
    the forge, the repository and "pull"), nor does a bare top folder (`invoices/`, or
    `invoices` where a path starts with it): it is where everything of the repository lives, so
    "Follow the code style in `invoices/`." names nothing. The top folders are read from the
    evidence's paths with something after the slash (``paths``: the files the run's evidence
    is about) and never from the edit's own text: `dist/`, which a reviewer asks not to commit
    and no file of the evidence lives in, is a name."""
    quoted = [without_urls(e) for e in evidence]
    mine = without_urls(text)
    tops = top_folders([*paths, *(m for t in quoted for m in CODE.findall(t))])
    own = {n.lower() for p in prompts for n in (p, p.rsplit("/", 1)[-1])}
    if any(_names(m, tops, own, quoted) for m in CODE.findall(mine)):
        return True
    coded = {
        w.lower()
        for e in quoted
        for m in CODE.findall(e)
        if not _bare_folder(m, tops)
        for w in _WORD.findall(m)
    }
    words = {w.lower() for w in _WORD.findall(mine) if len(w) >= 4}
    return bool((words & coded) - tops - PROSE) or _tool_written(mine, quoted)


def _names(match: str, tops: set[str], own: set[str], quoted: Sequence[str]) -> bool:
    """Whether one code match of an edit names something: not a bare top folder; a backticked
    span only when its inside is code by the other forms of ``CODE`` or written by the evidence,
    and is neither one of the target's prompt files nor a word every repository has
    (``EVERYWHERE``): `tests`, `git`, `AGENTS.md` name nothing."""
    if _bare_folder(match, tops):
        return False
    if not match.startswith("`"):
        return True
    inner = match.strip("`").strip()
    if inner.lower() in own or inner.lower() in EVERYWHERE:
        return False
    return any(not _bare_folder(m, tops) for m in CODE.findall(inner)) or _written(inner, quoted)


def _written(phrase: str, quoted: Sequence[str]) -> bool:
    """Whether the evidence writes ``phrase`` whole (case aside)."""
    pattern = re.compile(rf"(?<![\w.-]){re.escape(phrase)}(?![\w-])", re.IGNORECASE)
    return any(pattern.search(e) for e in quoted)


def _tool_written(mine: str, quoted: Sequence[str]) -> bool:
    """Whether the edit names a command line tool (``TOOLS``) the evidence writes: the tool
    itself (``tsc``, ``npm``), or for a tool whose name is an everyday word, the command it
    is part of, as the evidence writes it (``make lint``, ``go test``)."""
    words = _WORD.findall(mine)
    for n, word in enumerate(words):
        tool = word.lower()
        if tool not in TOOLS:
            continue
        if tool not in PHRASE_ONLY and _written(tool, quoted):
            return True
        if n + 1 < len(words) and _written(f"{word} {words[n + 1]}", quoted):
            return True
    return False


def top_folders(paths: Iterable[str]) -> set[str]:
    """The first folders of the paths with something after the slash (``invoices`` of
    ``invoices/billing.py``; nothing of ``dist/``), lowercased."""
    found = set()
    for path in paths:
        top, _, rest = path.strip("`").removeprefix("./").partition("/")
        if top and rest.strip("/"):
            found.add(top.lower())
    return found


def _bare_folder(match: str, tops: set[str]) -> bool:
    """A code match that is only a top folder: `invoices/`, `./src/`, or `invoices` itself."""
    bare = match.strip("`").strip().removeprefix("./").rstrip("/")
    return "/" not in bare and bare.lower() in tops


# -- quoting the evidence ------------------------------------------------------------------------


def excerpt_texts(views: Mapping[str, EvidenceSample], cited: Iterable[str]) -> list[str]:
    """What each cited item says, for the word checks: its text, and a failing test's name or
    a human fix's path; never its URL (a review's id), its author or its kind ("review by",
    "failed test"), whose words would tie any edit to any evidence; URLs and host names in
    the text are left out too (``without_urls``)."""
    return [without_urls(f"{_subject(e.id)} {e.text}") for e in excerpts(views, cited)]


def without_urls(text: str) -> str:
    """``text`` with every URL and host name replaced by a space."""
    return URL.sub(" ", text)


def _subject(full: str) -> str:
    """What an evidence id says about the problem: a test id's names (``classname::name``), a
    fix's path (``commit:<sha>:<path>``); nothing for a URL, a trace step or a task."""
    if full.startswith("commit:"):
        return full.split(":", 2)[-1]
    return full if "::" in full and "://" not in full else ""


def excerpts(
    views: Mapping[str, EvidenceSample], cited: Iterable[str], *, limit: int | None = None
) -> list[Excerpt]:
    """Each cited id that a view holds, quoted and capped. With a ``limit``, the kinds take
    turns (the first failing test, the first review, ..., then the second of each), so that
    six cited review comments do not crowd out the failure they are about."""
    found: list[Excerpt] = []
    for full in dict.fromkeys(cited):
        for view in views.values():
            item = _item(view, full)
            if item is not None:
                found.append(_excerpt(view, full, item))
                break
    if limit is None:
        return found
    by_kind: dict[str, list[Excerpt]] = {}
    for excerpt in found:
        by_kind.setdefault(excerpt.what.split(" ")[0], []).append(excerpt)
    turns = [e for n in range(len(found)) for group in by_kind.values() for e in group[n : n + 1]]
    return turns[:limit]


def _item(view: EvidenceSample, full: str) -> BaseModel | None:
    for item in cited_items(view):
        if getattr(item, "id", None) == full:
            return item
        if isinstance(item, FailureGroup) and full in item.tests:
            return item
    return None


def _excerpt(view: EvidenceSample, full: str, item: BaseModel) -> Excerpt:
    what, text = describe(item)
    return Excerpt(
        id=full,
        sample=view.id,
        earlier_version=view.earlier_version,
        what=what,
        text=_cap(" ".join(text.split())),
    )


def describe(item: BaseModel) -> tuple[str, str]:
    """What an item is, and its text, as the curation and the check read it."""
    if isinstance(item, FailureGroup):
        many = f" ({item.count} tests)" if item.count > 1 else ""
        return f"{item.status} test{many}", item.message
    if isinstance(item, ReviewNote):
        where = f" on {item.path}" + (f":{item.line}" if item.line else "") if item.path else ""
        state = f", {item.state.lower().replace('_', ' ')}" if item.state else ""
        said = item.text + "".join(f"\n```suggestion\n{s}\n```" for s in item.suggestions)
        return f"review by {item.author}{where}{state}", said
    if isinstance(item, Event):
        tool = f" ({item.tool})" if item.tool else ""
        after = f"after {item.before}: " if item.before else ""  # the command that failed
        return f"agent {item.kind.replace('_', ' ')}{tool}", after + item.text
    if isinstance(item, FixPatch):
        return f"human fix by {item.author}: {item.path}", item.diff or item.note or ""
    if isinstance(item, ReportedFailure):
        return f"reported {item.type}", f"{item.description} {item.context}".strip()
    if isinstance(item, Task):
        return "the task (context, not a problem)", f"{item.title} {item.body}"
    if isinstance(item, ChangedFile):
        return "changed file (context, not a problem)", item.id.removeprefix("file:")
    return type(item).__name__, ""


def _cap(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
