"""The publish job's check of a candidate the evaluate job's replay-scored search made.

The ``evaluate`` job runs the agent, which text written by outsiders steers, and any process
there may rewrite ``evaluation.json``: a candidate that comes from there (``loop.bundle.
Searched``) is outside data. Nothing of it is taken on trust; the publish job rebuilds the
candidate from the parts it can check against the trusted bundle (the prepare job's
``SearchIntent`` and samples, whose digest a job output carries) and its own checkout:

1. **Bound**: it is the bundle's target, its files hash to the fingerprint it gives, it starts
   from the prompts the prepare job planned on, and those are still this checkout's.
2. **Paths**: exactly the target's current files (GEPA rewrites sections of them; it adds,
   renames and deletes none).
3. **Explained**: the files differ from the current ones only by the bullets its listed changes
   add, change and remove; every other line (headings, prose, frontmatter, code) and the order
   of what is kept are byte-identical. A change the files do not make, or a difference no
   listed change explains (an uncited edit), refuses it.
4. **Cited and supported**: every change cites evidence ids of the training pull requests of
   the prepare job's plan only (never a validation or held-out one, never an id the bundle does
   not hold), and passes the support rule (``train.support.support_of``) on the evidence
   gathered from the bundle's samples, does not restate a bullet of its file nor change one
   without substance (``train.restate.unrestated``), and is not an edit people rejected
   repeated without new evidence (``train.edits.rejected_reason``). Its cluster and support
   are recomputed here.
5. **Held out**: its held-out replay names only the plan's held-out tasks.

The caller then runs every check a prepared candidate passes (``evaluate.candidate_check``:
shape, sizes, frontmatter, secrets, kept lines, no copy of the outside text of the bundle's
samples, the commands' verdicts) and opens it as a draft. The rebuilt candidate's analysis is
written here; nothing the evaluate job wrote as prose reaches the body except through the
template's escaping (an edit's reason, a replay run's reason).

Takes the bundle, its ``SearchIntent``, the evaluate job's ``Searched`` and this checkout's
prompts; returns ``Rebuilt``, which ``rendered`` turns into the draft's title and body. No DSPy,
no command, no GitHub.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from prompt_trainer.bullets import bullet_spans, bullets, normalize
from prompt_trainer.loop.bundle import Bundle, Searched, SearchIntent
from prompt_trainer.measure.clusters import Cluster
from prompt_trainer.models import (
    Candidate,
    Change,
    FrontEntry,
    PromptFile,
    PromptSet,
    ReplayResult,
    Sample,
    SearchSummary,
    TokenUsage,
    content_hash,
)
from prompt_trainer.render import ProposalView, render_body, render_title, user_template
from prompt_trainer.render.links import repo_links
from prompt_trainer.settings import Settings
from prompt_trainer.train.edits import Edit, rejected_reason
from prompt_trainer.train.evidence import evidence_ids, evidence_view
from prompt_trainer.train.plan import Evidence, gather
from prompt_trainer.train.restate import unrestated
from prompt_trainer.train.support import Supported, prompt_paths, support_of

#: Why every such candidate is a draft, as its pull request says.
DRAFT = (
    "made by GEPA's replay-scored search in the evaluate job, whose output is outside data (the "
    "agent it runs follows outside text): checked again here, for a person to judge"
)


@dataclass(frozen=True)
class Rebuilt:
    """The candidate rebuilt from what passed, the problems that refuse it, and the pull
    requests its search learned from (for the body)."""

    candidate: Candidate
    problems: tuple[str, ...]
    samples: list[Sample]


def rebuilt(
    intent: SearchIntent,
    found: Searched,
    *,
    bundle: Bundle,
    current: PromptSet,
    threshold: int = 2,
) -> Rebuilt:
    """``found`` checked against the bundle's ``intent`` and this checkout's ``current``
    prompts (see the module docstring); ``threshold``: new evidence a rejected edit repeated
    needs (``training.rejected_evidence_threshold``)."""
    learned = bundle.samples_of((*intent.training, *intent.validation))
    made = found.candidate
    if made is None:
        why = found.not_run or "the evaluate job gave no candidate"
        return Rebuilt(_empty(intent), (f"no candidate: {why}",), learned)
    problems = [*_bound(intent, found, made, current), *_paths(intent.current, made)]
    if problems:
        return Rebuilt(_empty(intent), tuple(problems), learned)
    problems += _explained(intent.current, made)
    evidence = _evidence(intent, bundle)
    changes, refused = _cited(made.changes, intent, evidence, bundle, threshold=threshold)
    problems += [*refused, *_held_out(intent, made.replay)]
    candidate = Candidate(
        target=intent.target, base_version=intent.current.version, files=made.files,
        analysis_summary=_analysis(intent, found), usage=made.usage,
        sample_ids=intent.training, changes=tuple(changes), clusters=tuple(evidence.notes()),
        strategy="gepa", search=_summary(made.search, evidence.clusters), replay=made.replay,
        eval_command=made.eval_command,
    )  # fmt: skip
    return Rebuilt(candidate, tuple(problems), learned)


def _empty(intent: SearchIntent) -> Candidate:
    """The current prompts, standing for a candidate that could not be used."""
    return Candidate(
        target=intent.target, base_version=intent.current.version, files=intent.current.files,
        analysis_summary="", usage=TokenUsage(), sample_ids=intent.training, strategy="gepa",
    )  # fmt: skip


def _bound(intent: SearchIntent, found: Searched, made: Candidate, current: PromptSet) -> list[str]:
    if found.target != intent.target or made.target != intent.target:
        return [f"the evaluate job's candidate is for {made.target!r}, not {intent.target!r}"]
    problems = []
    if content_hash(made.files) != found.fingerprint:
        problems.append(
            f"its files hash to {content_hash(made.files)}, not to the fingerprint "
            f"{found.fingerprint or '(none)'} the evaluate job gave"
        )
    if made.base_version != intent.current.version:
        problems.append(
            f"it starts from prompt version {made.base_version}, not {intent.current.version}, "
            "which the prepare job planned the search on"
        )
    planned = intent.current.version
    if current.version != planned:
        problems.append(
            f"the prompts changed since the prepare job planned the search ({planned} then, "
            f"{current.version} now): re-run the workflow"
        )
    return problems


def _paths(current: PromptSet, made: Candidate) -> list[str]:
    """GEPA rewrites sections of the target's files: the candidate has exactly those files."""
    before = {f.path for f in current.files}
    after = [f.path for f in made.files]
    extra = sorted(set(after) - before)
    missing = sorted(before - set(after))
    problems = [f"{p!r} is not a prompt file of {current.target}" for p in extra[:5]]
    problems += [f"it drops the prompt file {p!r}" for p in missing[:5]]
    if len(after) != len(set(after)) or made.removed:
        problems.append("it names a file twice, or removes one")
    return problems


# -- the files differ only by the listed changes -----------------------------------------------


def _explained(current: PromptSet, made: Candidate) -> list[str]:
    """Per file, the difference from the current file, bullet by bullet, against the listed
    changes: every added and removed bullet must be a listed change, and every listed change
    must be in the files."""
    before = {f.path: f.content for f in current.files}
    problems: list[str] = []
    for file in made.files:
        mine = [c for c in made.changes if c.path == file.path]
        problems += _file_explained(file, before.get(file.path, ""), mine)
    known = {f.path for f in made.files}
    problems += [f"a change names {c.path!r}, not one of its files" for c in made.changes
                 if c.path not in known][:3]  # fmt: skip
    return problems


def _file_explained(file: PromptFile, before: str, changes: list[Change]) -> list[str]:
    added, removed, other = _differences(before, file.content)
    if other:
        return [f"{file.path}: it changes text outside bullets: {other[0][:120]!r}"]
    if any(c.op not in ("add", "modify", "remove") for c in changes):
        return [f"{file.path}: a change's op is not add, modify or remove"]
    writes = [(c, normalize(c.text)) for c in changes if c.op != "remove"]
    takes = [(c, normalize(c.replaces if c.op == "modify" else c.text))
             for c in changes if c.op != "add"]  # fmt: skip
    unexplained = [("adds", t) for t in _unmatched(added, writes)]
    unexplained += [("removes", t) for t in _unmatched(removed, takes)]
    problems = [
        f"{file.path}: it {what} {text[:120]!r}, which no listed change explains (an uncited edit)"
        for what, text in unexplained
    ]
    problems += [
        f"{file.path}: its changes list {c.op} {c.text[:120]!r}, which its files do not make"
        for c in [*_unused(added, writes), *_unused(removed, takes)]
    ]
    return problems


def _differences(before: str, after: str) -> tuple[list[str], list[str], list[str]]:
    """The bullets added and removed (each as one line of text), and the other lines changed
    (or bullets moved across them), by a diff of the files as lines and whole bullets."""
    old, new = _units(before), _units(after)
    added: list[str] = []
    removed: list[str] = []
    other: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        for unit in old[a0:a1]:
            (removed if unit[0] == "bullet" else other).append(unit[1])
        for unit in new[b0:b1]:
            (added if unit[0] == "bullet" else other).append(unit[1])
    return [_bullet(t) for t in added], [_bullet(t) for t in removed], other


def _units(text: str) -> list[tuple[str, str]]:
    """The file as a sequence of its lines outside bullets and its whole bullets."""
    lines = text.split("\n")
    ends = dict(bullet_spans(text))
    units: list[tuple[str, str]] = []
    n = 0
    while n < len(lines):
        end = ends.get(n)
        units.append(("bullet", "\n".join(lines[n:end])) if end else ("line", lines[n]))
        n = end or n + 1
    return units


def _bullet(block: str) -> str:
    found = bullets(block)
    return found[0] if found else block


def _unmatched(bullets_: list[str], wanted: list[tuple[Change, str]]) -> list[str]:
    """The bullets no wanted change (by normalised text) accounts for, each change once."""
    left = [key for _, key in wanted]
    missing = []
    for text in bullets_:
        key = normalize(text)
        if key in left:
            left.remove(key)
        else:
            missing.append(text)
    return missing


def _unused(bullets_: list[str], wanted: list[tuple[Change, str]]) -> list[Change]:
    """The wanted changes no bullet accounts for."""
    left = [normalize(t) for t in bullets_]
    unused = []
    for change, key in wanted:
        if key in left:
            left.remove(key)
        else:
            unused.append(change)
    return unused


# -- citations and support ---------------------------------------------------------------------


def _evidence(intent: SearchIntent, bundle: Bundle) -> Evidence:
    """What the search learned from, gathered again from the bundle's samples: the training
    pull requests and the earlier versions' samples, the validation and held-out ones hidden."""
    hidden = frozenset((*intent.validation, *intent.held_out))
    training = bundle.samples_of(intent.training)
    return gather(training, bundle.samples_of(intent.earlier), intent.current, hidden=hidden)


def _cited(
    changes: Sequence[Change],
    intent: SearchIntent,
    evidence: Evidence,
    bundle: Bundle,
    *,
    threshold: int,
) -> tuple[list[Change], list[str]]:
    """The changes with their cluster and support recomputed, and why any is refused."""
    citable = evidence_ids([evidence_view(s) for s in bundle.samples_of(intent.training)])
    kept: list[Change] = []
    refused: list[str] = []
    for change in changes:
        verdict = _supported(change, citable, intent, evidence, threshold=threshold)
        if isinstance(verdict, str):
            refused.append(f"{change.op} {change.text[:120]!r}: {verdict}")
            continue
        update = {"cluster": verdict.cluster.id, "support": verdict.support}
        kept.append(change.model_copy(update=update))
    return kept, refused


def _supported(
    change: Change, citable: set[str], intent: SearchIntent, evidence: Evidence, *, threshold: int
) -> Supported | str:
    if not change.evidence:
        return "it cites no evidence (an uncited edit)"
    foreign = [e for e in change.evidence if e not in citable]
    if foreign:
        return (
            f"it cites {foreign[0][:120]!r}, which is no evidence id of the training pull "
            "requests the prepare job bundled"
        )
    restates = _restates(change, intent.current)
    if restates:
        return restates
    # What the rule compares is the edit's text (the new bullet, or the one removed).
    edit = Edit(op="add", new_text=change.text, evidence=list(change.evidence))
    repeated = rejected_reason(edit, change.evidence, intent.rejected, threshold=threshold)
    if repeated:
        return repeated
    return support_of(
        change.text,
        change.evidence,
        evidence,
        named=change.cluster,
        op=change.op,
        prompts=prompt_paths(intent.current),
    )


def _restates(change: Change, current: PromptSet) -> str | None:
    """Why the rule against restating a bullet (``train.restate``) refuses the change: an add
    that restates a bullet of its file (which the search would have dropped, or sent on as a
    sharpening of that bullet), a modify that changes nothing substantive."""
    if change.op not in ("add", "modify"):
        return None
    edit = Edit(op=change.op, file=change.path, new_text=change.text,
                target_text=change.replaces, evidence=list(change.evidence))  # fmt: skip
    found = unrestated([edit], current)
    if found.dropped:
        return found.dropped[0][1]
    if found.edits != [edit]:
        return f"{found.sharpened[0] if found.sharpened else 'it restates a bullet'}, not an add"
    return None


def _held_out(intent: SearchIntent, replay: ReplayResult | None) -> list[str]:
    """Its held-out evaluation is a replay of the plan's held-out tasks, and only of them."""
    if replay is None:
        return ["it carries no held-out replay (its held-out evaluation)"]
    held = set(intent.held_out)
    named = [t.sample for t in replay.tasks if t.sample not in held]
    named += [s.source for s in replay.skipped if s.source not in held]
    if replay.target != intent.target or named:
        return [f"its held-out replay names {named[0] if named else replay.target!r}, not a "
                "held-out task of the prepare job's plan"]  # fmt: skip
    return []


def held_out_reason(candidate: Candidate) -> tuple[str, ...]:
    """What its held-out replay says, as a draft's reason (that evaluation is the replay's
    per-task results, made in the job whose output this is)."""
    result = candidate.replay
    if result is None:
        return ()
    if result.not_run:
        return (f"held-out: not replayed: {result.not_run}",)
    p = f", sign test p={result.p_value:.2g}" if result.p_value is not None else ""
    return (
        f"held-out: the agent reran {len(result.tasks)} held-out task(s) the search never saw "
        f"with the current prompts and with the candidate in the evaluate job: "
        f"{result.verdict} ({result.decided_tasks} decided, {result.candidate_better} in the "
        f"candidate's favour{p})",
    )


# -- what the body says --------------------------------------------------------------------------


def rendered(
    settings: Settings, made: Rebuilt, current: PromptSet, *, draft: tuple[str, ...]
) -> tuple[str, str]:
    """The title and body the publish job renders for the rebuilt candidate (the template's
    escaping applies to every field it shows): where it was made, its held-out replay."""
    view = ProposalView(
        candidate=made.candidate, current=current, samples=made.samples,
        model=settings.config.training.gepa.reflection_model or "", draft=draft,
        replay_search=True,
        links=repo_links(settings.env.github_server_url, settings.env.github_repository),
    )  # fmt: skip
    template = user_template(settings.root, settings.config.pull_request.template)
    return render_title(view), render_body(view, template_text=template)


def _summary(search: SearchSummary | None, clusters: Sequence[Cluster]) -> SearchSummary | None:
    """GEPA's numbers as the evaluate job reported them, its front only on the clusters found
    here, labelled as found here."""
    if search is None:
        return None
    labels = {c.id: c.label for c in clusters}
    front = tuple(
        FrontEntry.model_validate(e.model_dump() | {"label": labels[e.cluster]})
        for e in search.front
        if e.cluster in labels
    )
    return search.model_copy(update={"metric": "replay", "front": front})


def _analysis(intent: SearchIntent, found: Searched) -> str:
    """The rebuilt candidate's analysis, written by the publish job."""
    lines = [
        "GEPA's search ran in the evaluate job, scored by replaying the agent on the training "
        f"pull requests' tasks ({len(intent.training)} to train on, {len(intent.validation)} "
        f"to validate), and its candidate (fingerprint {found.fingerprint}) was replayed on "
        f"{len(intent.held_out)} held-out task(s) the search never saw. The publish job "
        "rebuilt it from what it could check against the prepare job's bundle.",
        "",
        *(f"- {note}" for note in intent.notes),
    ]
    return "\n".join(lines).strip()
