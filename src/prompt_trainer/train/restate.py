"""Sharpen an ignored bullet, never restate it: the rule every strategy's edits pass first.

Takes the edits of one answer and the prompt files they change; returns the edits to go on with
and why each other one was dropped. ``check.vet_edits`` runs it before the support rule, so
``evolve``, ``rules``, ``rewrite``'s bullets and ``gepa`` all pass it; ``revise`` runs it before
applying a maintainer's edits. No DSPy.

When a failure recurs although a bullet says how to avoid it, the agent ignored that bullet, and
a model's reflex is to add the same rule again. Two bullets that say one thing make the file
longer and no clearer, and a reviewer rejects the second at once. What the evidence calls for is
the bullet made sharper (naming what the failures show it lacked) or nothing. So:

1. An ``add`` restates a bullet of the same file when the bullet already says at least
   ``RESTATES`` (4/5) of what the add says besides names the bullet lacks, at least
   ``SHARPENS`` (3/5) of all it says (so that new names are not most of it), and at least
   ``MIN_SHARED`` (2) things. What a text says: its content words (``measure.clusters``'
   notion: four letters or more, stopwords out; a word and its longer form of five letters or
   more count as one; a word the bullet writes inside an identifier counts, ``client`` in
   ``ApiClient``) and its names, whole (identifiers, paths, commands, flags, numbers:
   ``ConflictException`` is one name, not the words conflict and exception, so a rule naming a
   new identifier is not said by a bullet that only shares its parts). Containment, not a
   symmetric overlap: a short add that says part of a long bullet restates it.
2. A restating ``add`` with no new name is dropped with the reason. One that names something
   the bullet does not (a path, an identifier, a command: ``invoices/vat.py``, ``pytest
   tests/test_fees.py``) becomes a ``modify`` of that bullet that keeps its lines as they are
   and appends the add's sentences (cut at ``. ``, ``; `` and ``: `` outside code) that carry
   the new names, in the model's own words: the specifics the evidence produced land in the
   bullet the agent ignored, the diff adds them and changes nothing else, and nothing the model
   did not write is proposed. Only when ``train.edits`` writes it so (``appended``: a one-line
   bullet's line is extended, a longer one gets a continuation line) and no other edit of the
   answer already changes that bullet; otherwise the add is dropped with the reason and the
   names it would have added, and the instructions steer the next answer to a ``modify``.
3. A ``modify`` whose new text has the same content words and names as the bullet (both ways)
   and the same negations changes nothing substantive and is dropped (a rewrite that rewords a
   bullet, ``diff_edits``' pairs, the same). Not in ``revise`` (``rewording=True``): there a
   maintainer may ask for wording alone (a typo, backticks), and what a maintainer asks is done.

Calibrated on 34 restatements written as models write them (of ``examples/basic``'s bullets and
of bullets of real CLAUDE.md/AGENTS.md files), 6 restatements that add a path, identifier or
command, 23 new rules written next to a bullet they share words with (a retry wrapper beside the
one-client rule, `format_money()` beside the Decimal rule), and the 245 bullets of seven real
prompt files, each against the other bullets of its file (people rarely write one rule twice, so
a hit there is a false alarm). At 0.8/0.6/2: 28 of the 34 dropped, 6 of 6 sharpened, none of
the 23 new rules dropped (one, "log business logic errors with the injected `Logger` before
throwing `BadRequestException`", is appended to the bullet on throwing it), and of the 245 none
dropped, one sharpened (a step "add the property to both `:root` and `[data-theme=dark]` in
`themes.css`" beside the bullet saying `themes.css` defines it in both). At 0.7, 4 of the 245
are dropped; at 0.9, 20 of the 34 restatements; at a share of 0.5 for new names, sibling bullets
(``wallets.balance >= 0`` beside ``ledger.amount > 0``) would merge. What it misses (short
paraphrases: "list the tests you ran in the PR description") is left to the check call, which
is shown the closest bullet and asked whether the edit restates it.

``once`` applies it among the adds of one answer: an add that restates a bullet an earlier add
of the answer writes in the same file is dropped (``check.vet_edits`` runs it after
``unrestated``).

``restating`` applies the same measure to the ``rules`` strategy's learned rules before they are
appended, against the file's bullets and the rules appended before them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prompt_trainer.bullets import bullet_spans, bullets
from prompt_trainer.measure.clusters import GENERIC, overlap
from prompt_trainer.measure.facts import STOPWORDS
from prompt_trainer.models import PromptSet
from prompt_trainer.train.edits import Edit, appended, content_of, locate, path_of
from prompt_trainer.train.support import CODE

#: Share of an add's terms (besides names the bullet lacks) its bullet must say for the add to
#: restate it ...
RESTATES = 0.8
#: ... and of all its terms, new names included (so that the new names are not most of it) ...
SHARPENS = 0.6
#: ... and how many, at least.
MIN_SHARED = 2
#: Content words have this many letters or more (``measure.clusters.words_of``).
MIN_WORD = 4

_SPAN = re.compile(r"`([^`]*)`")
#: A path (``invoices/vat.py``, ``tests/``, ``/api/v1/``), or a run of name characters that
#: ends in a file's extension (``api_client.py``, ``*.spec.ts``). Each starts only where its run
#: starts and never gives back what it read, so a long run in a model's text is read once
#: (``tests/test_linear_regex.py``).
_PATH = re.compile(r"(?<![\w.*/-])/?(?:[\w.*-]++/)+[\w.*-]*+")
_RUN = re.compile(r"(?<![\w.*-])[\w.*-]++")
_FILE = re.compile(r"\.(?:py|js|ts|tsx|go|rs|java|rb|md|json|ya?ml|toml|sh|cfg|ini|sql|txt)$")
_FLAG = re.compile(r"(?<![\w-])--?[a-z][\w-]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)*")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
NEGATIONS = frozenset(
    """
    not no never don't dont doesn't isn't aren't cannot can't won't without avoid nor
    """.split()  # noqa: SIM905 - a word list reads better as text
)
#: Where an add is cut into sentences: after ``.``, ``;`` or ``:`` and a space, outside code,
#: not after an abbreviation.
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf)|\b\w)\.$", re.IGNORECASE)


@dataclass(frozen=True)
class Terms:
    """What a text says: content words, names (lowercased, whole) and the words inside the
    names (for a word the other text writes inside an identifier)."""

    words: frozenset[str]
    names: frozenset[str]
    parts: frozenset[str]
    #: Each name as the text writes it.
    spelled: dict[str, str] = field(compare=False)


@dataclass(frozen=True)
class Said:
    """How much of a text another text (a bullet) already says."""

    #: Of the text's terms, the share the bullet says ...
    share: float
    #: ... and the share of those besides the names it lacks.
    rest: float
    shared: int
    #: The text's names the bullet does not have, as the text writes them.
    new: tuple[str, ...]

    @property
    def restates(self) -> bool:
        return self.shared >= MIN_SHARED and self.rest >= RESTATES and self.share >= SHARPENS


@functools.lru_cache(maxsize=4096)
def terms(text: str) -> Terms:
    """The content words and names of ``text``: code (in backticks, or code-like: a path, a
    ``snake_case`` or ``CamelCase`` name, a call, a flag) gives names, the rest words."""
    code = [*_SPAN.findall(text)]
    prose = _SPAN.sub(" ", text)
    code += [m.group(0) for m in CODE.finditer(prose)]
    prose = CODE.sub(" ", prose)
    spelled: dict[str, str] = {}
    for chunk in [*code, *_NUMBER.findall(prose)]:
        spelled.update(_names(chunk))
    words = {w.lower().strip("'") for w in _WORD.findall(prose)}
    return Terms(
        words=frozenset(w for w in words if len(w) >= MIN_WORD and w not in STOPWORDS | GENERIC),
        names=frozenset(spelled),
        parts=frozenset(p for chunk in code for p in _parts(chunk)),
        spelled=spelled,
    )


def _names(code: str) -> dict[str, str]:
    """Paths, flags, identifiers (two characters or more) and numbers of a piece of code."""
    found = [p.strip("./") for p in _PATH.findall(code)]
    code = _PATH.sub(" ", code)
    found += [r.strip(".") for r in _RUN.findall(code) if _FILE.search(r)]
    code = _RUN.sub(lambda m: " " if _FILE.search(m.group(0)) else m.group(0), code)
    found += _FLAG.findall(code)
    code = _FLAG.sub(" ", code)
    found += [i for i in _IDENT.findall(code) if len(i) >= 2] + _NUMBER.findall(code)
    return {name.lower(): name for name in found if name}


def _parts(code: str) -> set[str]:
    """The words inside the identifiers of a piece of code, split at ``_`` and capitals."""
    found = set()
    for token in _IDENT.findall(code):
        for piece in token.split("_"):
            found |= {c.lower() for c in _CAMEL.findall(piece)}
    return {p for p in found if len(p) >= MIN_WORD}


def said(text: str, bullet: str) -> Said:
    """How much of what ``text`` says ``bullet`` already says."""
    mine, theirs = terms(text), terms(bullet)
    pool = theirs.words | theirs.parts | theirs.names
    words = [w for w in mine.words if overlap(frozenset((w,)), pool)]
    names = {n for n in mine.names if _name_said(n, theirs, pool)}
    total = len(mine.words) + len(mine.names)
    shared = len(words) + len(names)
    new = tuple(mine.spelled[n] for n in sorted(mine.names - names))
    return Said(
        share=shared / total if total else 0.0,
        rest=shared / (total - len(new)) if total > len(new) else 0.0,
        shared=shared,
        new=new,
    )


def _name_said(name: str, theirs: Terms, pool: frozenset[str]) -> bool:
    """A name is said by the same name, by the same path written longer or shorter, or (a plain
    word such as ``float``) by the word."""
    if name in theirs.names:
        return True
    if "/" in name:
        return any(t.endswith("/" + name) or name.endswith("/" + t) for t in theirs.names)
    return name.isalpha() and len(name) >= MIN_WORD and bool(overlap(frozenset((name,)), pool))


def nearest(text: str, bullets: Sequence[str]) -> tuple[int, Said] | None:
    """The bullet (its number, from 1) that says most of ``text``, sharing ``MIN_SHARED`` or
    more of its terms; None when none does."""
    return _most(
        [
            (n, s)
            for n, b in enumerate(bullets, start=1)
            if (s := said(text, b)).shared >= MIN_SHARED
        ]
    )


def restated(text: str, bullets: Sequence[str]) -> tuple[int, Said] | None:
    """The bullet that ``text`` restates (``Said.restates``; the one that says most of it),
    or None."""
    return _most([(n, s) for n, b in enumerate(bullets, start=1) if (s := said(text, b)).restates])


def _most(found: list[tuple[int, Said]]) -> tuple[int, Said] | None:
    """The bullet that says most (then the most terms, then the first)."""
    return max(found, key=lambda ns: (ns[1].share, ns[1].shared, -ns[0]), default=None)


def same_substance(before: str, after: str) -> bool:
    """Whether two texts say the same: each says every term of the other, with the same
    negations."""
    return (
        said(after, before).share == 1.0
        and said(before, after).share == 1.0
        and _negations(before) == _negations(after)
    )


def _negations(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(_SPAN.sub(" ", text))) & NEGATIONS


# -- the rule over one answer's edits -------------------------------------------------------------


@dataclass
class Restated:
    """The edits to go on with (a restating add may have become a ``modify``), the edits
    dropped with why, and a note per add turned into a ``modify``."""

    edits: list[Edit] = field(default_factory=list)
    dropped: list[tuple[Edit, str]] = field(default_factory=list)
    sharpened: list[str] = field(default_factory=list)


def unrestated(edits: Iterable[Edit], current: PromptSet, *, rewording: bool = False) -> Restated:
    """Apply the rule to the edits of one answer (``current``: the files the model saw).
    ``rewording``: keep a ``modify`` that only rewords its bullet (a maintainer asked for it)."""
    edits = list(edits)
    verdicts: dict[int, Edit | str] = {
        n: _modify(e, current) if e.op == "modify" and not rewording else e
        for n, e in enumerate(edits)
        if e.op != "add"
    }
    changed = {
        t for v in verdicts.values() if isinstance(v, Edit) and (t := _target(v, current))
    }  # the bullets other edits of the answer change or remove
    out = Restated()
    for n, edit in enumerate(edits):
        verdict = verdicts[n] if n in verdicts else _add(edit, current, changed)
        if isinstance(verdict, str):
            out.dropped.append((edit, verdict))
            continue
        if verdict is not edit:
            tail = verdict.new_text[len(verdict.target_text) :].strip()
            out.sharpened.append(
                f"add {edit.new_text[:120]!r} restates {_target_name(verdict, current)}: sent "
                f"on as a modify of it that appends {tail!r}"
            )
        out.edits.append(verdict)
    return out


def once(edits: Iterable[Edit], current: PromptSet) -> Restated:
    """The edits without an ``add`` that restates (``Said.restates``) a bullet an earlier
    ``add`` of the same answer writes in the same file: the first is kept, the other dropped
    with the reason. A search that rewrites two sections (``gepa``) or a curation that answers
    two clusters with one rule would otherwise write the rule twice."""
    out = Restated()
    written: dict[str, list[str]] = {}
    for edit in edits:
        if edit.op == "add":
            earlier = written.setdefault(path_of(edit, current), [])
            found = restated(edit.new_text, earlier)
            if found is not None:
                first = earlier[found[0] - 1]
                out.dropped.append((edit, f"restates {first[:80]!r}, which this answer adds too"))
                continue
            earlier.append(edit.new_text)
        out.edits.append(edit)
    return out


def _target(edit: Edit, current: PromptSet) -> tuple[str, int] | None:
    """(path, number) of the bullet a ``modify`` or ``remove`` names, if it names one."""
    if edit.op not in ("modify", "remove"):
        return None
    content = content_of(edit, current)
    place = locate(content.split("\n"), edit.target_text) if content else "no file"
    if isinstance(place, str):
        return None
    return path_of(edit, current), bullet_spans(content).index(place) + 1


def _target_name(edit: Edit, current: PromptSet) -> str:
    target = _target(edit, current)
    return f"{target[0]} B{target[1]}" if target else path_of(edit, current)


def _modify(edit: Edit, current: PromptSet) -> Edit | str:
    """The modify, or why it changes nothing substantive."""
    target = _target(edit, current)
    if target is None:
        return edit  # placing it fails later, with its own reason
    bullet = bullets(content_of(edit, current))[target[1] - 1]
    if not same_substance(bullet, edit.new_text):
        return edit
    return (
        f"changes nothing substantive in {target[0]} B{target[1]} (the same content words and "
        "names); sharpen it with what the evidence shows it lacks, or leave it"
    )


def _add(edit: Edit, current: PromptSet, changed: set[tuple[str, int]]) -> Edit | str:
    """The add, or the ``modify`` that sharpens the bullet it restates, or why it is dropped."""
    content = content_of(edit, current)
    found = restated(edit.new_text, bullets(content)) if content else None
    if found is None:
        return edit
    number, how = found
    key = (path_of(edit, current), number)
    why = f"restates {key[0]} B{number}; the agent ignored B{number} — sharpen it (modify) instead"
    if not how.new:
        return why
    sharpened = _sharpened(edit, content, number, how.new)
    problem = "another edit of this answer already changes it" if key in changed else sharpened
    if isinstance(problem, str):
        named = ", ".join(f"`{n}`" for n in how.new)
        return f"{why}, with what it adds ({named}); not done here: {problem}"
    changed.add(key)
    return problem


def _sharpened(edit: Edit, content: str, number: int, new: Sequence[str]) -> Edit | str:
    """A ``modify`` of bullet ``number`` that keeps its lines and appends the sentences of the
    add that name one of ``new``; or why there is none."""
    start, end = bullet_spans(content)[number - 1]
    block = content.split("\n")[start:end]
    text = bullets(content)[number - 1]
    wanted = {n.lower() for n in new}
    pieces = [_sentence(p) for p in sentences(edit.new_text) if terms(p).names & wanted]
    joiner = " " if text.endswith((".", "!", "?", ":", ";")) else ". "
    extended = text + joiner + " ".join(pieces)
    if not pieces or appended(block, extended) is None:
        return "the bullet's lines would not be kept as they are"
    return edit.model_copy(update={"op": "modify", "target_text": text, "new_text": extended})


def sentences(text: str) -> list[str]:
    """``text`` cut after ``.``, ``;`` or ``:`` followed by a space, outside backticks and not
    after an abbreviation."""
    pieces: list[str] = []
    start, code = 0, False
    for n, char in enumerate(text):
        if char == "`":
            code = not code
        elif (
            not code
            and char in ".;:"
            and text[n + 1 : n + 2].isspace()
            and not _ABBREVIATION.search(text[max(start, n - 5) : n + 1])
        ):
            pieces.append(text[start : n + 1])
            start = n + 1
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip(" .;:")]


def _sentence(piece: str) -> str:
    piece = piece.strip().rstrip(",;:")
    piece = piece[:1].upper() + piece[1:]
    return piece if piece.endswith((".", "!", "?")) else piece + "."


# -- learned rules --------------------------------------------------------------------------------


def restating(rules: Sequence[str], content: str) -> list[str]:
    """Per rule, what it restates: a bullet of ``content`` (``B3``) or a rule before it; ""
    for a rule that restates nothing."""
    existing = bullets(content)
    kept: list[str] = []
    what: list[str] = []
    for rule in rules:
        found = restated(rule, [*existing, *kept])
        if found is None:
            kept.append(rule)
            what.append("")
        elif found[0] <= len(existing):
            what.append(f"B{found[0]}")
        else:
            what.append(f"the rule {kept[found[0] - len(existing) - 1][:80]!r}")
    return what
