"""Itemized edits to prompt files, applied so that untouched text stays byte-identical.

The ``evolve`` and ``rules`` strategies do not let the model rewrite a file: it returns edits
(add, modify or remove one bullet, add a subagent, add a learned rule), each citing the evidence
that motivated it. The model sees every bullet numbered per file (``numbered``: ``- [B3] ...``)
and may name a bullet by that id, or quote it: a quote that identifies exactly one bullet after
normalisation (case, whitespace, markdown marks), by its first line, or as a unique prefix of at
least ``PREFIX_WORDS`` words is that bullet (``locate``). ``apply_edits`` applies them line by
line, so only the bullet's own lines change; an ``add`` whose anchor is not found goes to the end
of the section whose heading it names, else the end of the file. Evidence is cited in the forms
models write (``EvidenceIndex``: a short id, the full URL, its fragment, ``#9002``, a pytest-style
test id) when that identifies exactly one item. ``parse_edits`` reads the model's list item by
item: an item with an unknown op, a missing field or a wrong type is dropped with its reason and
the others apply. An edit that adds a subagent whose name is not kebab-case (a ``/``, ``..`` or
absolute path would write outside the subagents directory) is dropped too. YAML frontmatter
(a skill's ``name``, ``applyTo``, ``globs``) holds no bullets or anchors: edits never touch it.
An edit to a path-scoped file (``out_of_scope``) must cite evidence about a path in its scope.
No DSPy here: this module is plain text processing, tested on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import json_repair
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prompt_trainer.bullets import (
    BULLET,
    PREFIX_WORDS,
    bullet_blocks,
    bullets,
    names_bullet,
    normalize,
)
from prompt_trainer.models import PromptFile, PromptSet, Rejection, Subagent
from prompt_trainer.prompt_kinds import frontmatter_lines, scope_of
from prompt_trainer.settings import Target
from prompt_trainer.targets import render_subagent, subagent_name_problem, subagent_path

LEARNED_RULES = "## Learned rules"
DUPLICATE = 0.7  # word-set overlap (Jaccard) at which an edit repeats a rejected one
BULLET_ID = re.compile(r"^\[?B(\d+)\]?(?:[\s:.)\]-]+|$)", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")

Op = Literal["add", "modify", "remove", "add_subagent"]


class Edit(BaseModel):
    """One change, as the model proposes it (``train.evolve``, ``train.rules`` signatures)."""

    model_config = ConfigDict(frozen=True)

    op: Op
    file: str = Field(default="", description="path of the prompt file; empty for the main file")
    target_text: str = Field(
        default="",
        description="modify/remove: the existing bullet's text; add: the bullet or heading to "
        "insert after (empty: end of the file)",
    )
    new_text: str = Field(default="", description="add/modify: the new bullet's text, one line")
    subagent_name: str = Field(default="", description="add_subagent: kebab-case name")
    subagent_description: str = Field(default="", description="add_subagent: when to use it")
    evidence: list[str] = Field(description="ids of the evidence that motivated this edit")
    reason: str = Field(default="", description="one sentence: why")
    cluster: str = Field(default="", description="id of the failure cluster it addresses")


@dataclass(frozen=True)
class Applied:
    edit: Edit
    evidence: tuple[str, ...]


@dataclass
class EditResult:
    """The edited files, and what was applied or dropped (with why)."""

    files: dict[str, str]
    applied: list[Applied] = field(default_factory=list)
    dropped: list[tuple[Edit, str]] = field(default_factory=list)


def numbered(text: str) -> str:
    """The file as the model sees it: each bullet's first line carries its id, ``- [B1] ...``
    (numbered per file, in order), so an edit can name the bullet exactly."""
    lines = text.split("\n")
    for n, (start, _, _) in enumerate(bullet_blocks(lines), start=1):
        match = BULLET.match(lines[start])
        if match:
            lines[start] = f"{match.group(1)}{match.group(2)} [B{n}] {match.group(3)}"
    return "\n".join(lines)


def _strip_quote(text: str) -> str:
    """The quoted text without its list marker, its ``[B3]`` id and wrapping quotes."""
    text = BULLET.sub(r"\3", text.strip()).strip().strip("\"'")
    return BULLET_ID.sub("", text, count=1) if BULLET_ID.match(text) else text


def locate(lines: list[str], text: str) -> tuple[int, int] | str:
    """The (first, end) lines of the one bullet that ``text`` names, or why there is none: a
    ``B3`` id, else equal after normalisation (whole bullet or its first line), else a unique
    prefix of at least ``PREFIX_WORDS`` words."""
    blocks = bullet_blocks(lines)
    by_id = BULLET_ID.match(text.strip().lstrip("-*+ "))
    if by_id:
        n = int(by_id.group(1))
        if 1 <= n <= len(blocks):
            return blocks[n - 1][:2]
        return f"no bullet B{n} (the file has {len(blocks)})"
    wanted = normalize(_strip_quote(text))
    if not wanted:
        return "no bullet named"
    firsts = [normalize(BULLET.sub(r"\3", lines[a])) for a, _, _ in blocks]
    for matches in (
        [b for b, first in zip(blocks, firsts, strict=True) if wanted in (b[2], first)],
        [b for b in blocks if names_bullet(wanted, b[2])],
    ):
        if len(matches) == 1:
            return matches[0][:2]
        if len(matches) > 1:
            return f"the quote matches {len(matches)} bullets"
    return "bullet not found"


def _find(lines: list[str], text: str) -> tuple[int, int] | None:
    place = locate(lines, text)
    return None if isinstance(place, str) else place


def _replacement(block: list[str], new_text: str) -> list[str]:
    """What a ``modify`` writes in place of a bullet's lines: the bullet extended when
    ``new_text`` only appends to its text (``appended``), else one line."""
    extended = appended(block, new_text)
    if extended is not None:
        return extended
    indent, marker = _marker(block[0])
    return [f"{indent}{marker} {_one_line(new_text)}"]


def appended(block: list[str], new_text: str) -> list[str] | None:
    """The lines of a bullet (``block``: its first line and continuation lines) with what
    ``new_text`` appends to its text, the bullet's lines kept as they are (trailing spaces
    aside; a sentence mark may close its last line): a one-line bullet's line is extended, a
    longer bullet gets a continuation line indented like its others. None when ``new_text`` is
    not the bullet's text followed by more (a space or a sentence mark, then words)."""
    match = BULLET.match(block[0])
    if match is None:
        return None
    text = " ".join([match.group(3).strip(), *(ln.strip() for ln in block[1:])])
    new = _one_line(new_text)
    rest = new[len(text) :] if new.startswith(text) else ""
    if not re.match(r"[.;,:]? \S", rest):
        return None
    if len(block) == 1:
        return [block[0].rstrip() + rest]
    mark, rest = rest.split(" ", 1)
    indent = block[1][: len(block[1]) - len(block[1].lstrip())]
    return [*block[:-1], block[-1].rstrip() + mark, indent + rest]


def _marker(line: str) -> tuple[str, str]:
    match = BULLET.match(line)
    if not match:
        return "", "-"
    marker = match.group(2)
    return match.group(1), "-" if marker[0].isdigit() else marker


def _one_line(text: str) -> str:
    """The text on one line, without a list marker of its own (models often write one, also on
    a bullet they wrap over several lines)."""
    return BULLET.sub(r"\3", " ".join(text.split()))


#: What separates evidence ids a model writes in one string (``"E1, E2"``, ``"E1; E2"``).
SEPARATORS = re.compile(r"[\s,;]+")


class EvidenceIndex:
    """The evidence ids of a run, and the other forms a model cites them in.

    ``resolve`` maps a cited string to the one full id it names: the id itself, a short alias
    (``E3``, from ``aliases``), a URL's fragment (``discussion_r9002``), ``#9002`` (the number at
    the end of a URL), a pytest-style test id (``tests/test_fees.py::test_total`` for
    ``tests.test_fees::test_total``) or a bare test name. A string that names no id or more than
    one resolves to None.
    """

    def __init__(
        self,
        ids: Iterable[str],
        aliases: Mapping[str, str] | None = None,
        *,
        paths: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.ids = set(ids)
        self.aliases = {k.upper(): v for k, v in (aliases or {}).items() if v in self.ids}
        #: {full id: repository paths it is about}; None: unknown, scopes are not checked.
        self.paths = None if paths is None else {k: tuple(v) for k, v in paths.items()}

    def paths_of(self, cited: Iterable[str]) -> set[str]:
        """The repository paths the cited evidence is about."""
        return {p for c in cited for p in (self.paths or {}).get(c, ())}

    def __contains__(self, cited: object) -> bool:
        return isinstance(cited, str) and self.resolve(cited) is not None

    def resolve(self, cited: str) -> str | None:
        cited = cited.strip().strip("`'\"[]()<>").strip()
        if not cited:
            return None
        if cited in self.ids:
            return cited
        if cited.upper() in self.aliases:
            return self.aliases[cited.upper()]
        for matches in (
            [i for i in self.ids if "#" in i and i.rsplit("#", 1)[1] == cited.lstrip("#")],
            [i for i in self.ids if _number(cited) and _number(i) == _number(cited)],
            [i for i in self.ids if _test_key(i) == _test_key(cited)],
            [i for i in self.ids if "::" in i and i.rsplit("::", 1)[1] == cited],
        ):
            if matches:
                return matches[0] if len(matches) == 1 else None
        return None

    def cited(self, evidence: Iterable[str]) -> tuple[str, ...]:
        """The full ids that ``evidence`` names, each once, in order. An item that names no id
        whole is read as several, split like a string of them (``SEPARATORS``): a model writes
        ``["tests.test_fees::test_total, discussion_r221"]`` too. A whole match comes first, so
        a test id with spaces (``src/a.test.ts::cart > applies discount``) stays one."""
        found = [full for e in evidence if isinstance(e, str) for full in self._named(e)]
        return tuple(dict.fromkeys(e for e in found if e))

    def _named(self, cited: str) -> list[str | None]:
        whole = self.resolve(cited)
        return [whole] if whole else [self.resolve(p) for p in SEPARATORS.split(cited)]


def _number(text: str) -> str | None:
    """``9002`` of ``#9002`` and of a URL ending ``#discussion_r9002``; None for other text."""
    if re.fullmatch(r"#\d+", text):
        return text[1:]
    match = re.search(r"#[a-z_-]*?(\d+)$", text, re.IGNORECASE)
    return match.group(1) if match and "/" in text else None


def _test_key(text: str) -> str:
    """A test id with path separators, ``.py`` and ``::`` made alike."""
    if "::" not in text and "/" not in text:
        return "\0" + text  # not a test id: never equal to another form
    key = text.replace(".py::", "::").replace("/", ".").replace("::", ".")
    return key.removesuffix(".py").lower()


#: What each op needs besides ``op`` and ``evidence``.
REQUIRED: dict[str, tuple[str, ...]] = {
    "add": ("new_text",),
    "modify": ("target_text", "new_text"),
    "remove": ("target_text",),
    "add_subagent": ("subagent_name", "subagent_description", "new_text"),
}
#: Names models use for an edit's fields, mapped to ours.
FIELD_ALIASES = {
    "target": "target_text",
    "anchor": "target_text",
    "bullet": "target_text",
    "quote": "target_text",
    "text": "new_text",
    "new": "new_text",
    "path": "file",
    "evidence_ids": "evidence",
    "cites": "evidence",
    "cluster_id": "cluster",
}


def load_list(answer: object) -> list[Any] | None:
    """The list in a model's answer: a list, JSON text (fenced or not, repaired when slightly
    broken), or an object holding one list; None when there is none."""
    if isinstance(answer, str):
        text = answer.strip()
        fenced = re.search(r"```(?:json)?\s*\n(.*?)(?:```|$)", text, re.DOTALL)
        text = fenced.group(1) if fenced else text
        try:
            answer = json.loads(text)
        except ValueError:
            answer = json_repair.loads(text) if text else []
    if isinstance(answer, dict):
        lists = [v for v in answer.values() if isinstance(v, list)]
        answer = lists[0] if len(lists) == 1 else None
    return list(answer) if isinstance(answer, list | tuple) else None


def parse_edits(answer: object) -> tuple[list[Edit], list[str]]:
    """The edits in a model's answer, item by item, and why each other item was dropped."""
    items = load_list(answer)
    if items is None:
        return [], [f"the answer holds no list of edits: {str(answer)[:80]!r}"]
    edits: list[Edit] = []
    dropped: list[str] = []
    for n, item in enumerate(items, start=1):
        edit = _edit(item)
        if isinstance(edit, str):
            dropped.append(f"item {n}: {edit}")
        else:
            edits.append(edit)
    return edits, dropped


def _edit(item: object) -> Edit | str:
    if isinstance(item, Edit):
        return item
    if not isinstance(item, dict):
        return f"not an object: {str(item)[:60]!r}"
    data = {FIELD_ALIASES.get(k, k): v for k, v in item.items() if isinstance(k, str)}
    if isinstance(data.get("evidence"), str):
        data["evidence"] = [e for e in SEPARATORS.split(data["evidence"]) if e]
    op = data.get("op")
    if op not in REQUIRED:
        return f"unknown op {op!r} (use add, modify, remove or add_subagent)"
    missing = [k for k in (*REQUIRED[op], "evidence") if not data.get(k)]
    if missing:
        return f"{op} without {', '.join(missing)}"
    known = {k: v for k, v in data.items() if k in Edit.model_fields}
    try:
        return Edit.model_validate(known)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{op}: field {'.'.join(map(str, first['loc']))} {first['msg'].lower()}"


def rejected_reason(
    edit: Edit, cited: tuple[str, ...], rejected: Iterable[Rejection], *, threshold: int
) -> str | None:
    """Why ``edit`` may not be proposed again: it repeats a rejected edit and cites fewer than
    ``threshold`` pieces of evidence that the rejected one did not already have."""
    words = set(normalize(edit.new_text or edit.target_text).split())
    for old in rejected:
        if words and _jaccard(words, set(normalize(old.text).split())) >= DUPLICATE:
            new = [e for e in cited if e not in old.evidence]
            if len(new) < threshold:
                return (
                    f"repeats an edit rejected in #{old.pull} and cites {len(new)} new piece(s) "
                    f"of evidence (training.rejected_evidence_threshold={threshold})"
                )
    return None


def apply_edits(
    current: PromptSet,
    target: Target,
    edits: Iterable[Edit],
    *,
    evidence_ids: set[str] | EvidenceIndex,
    rejected: Iterable[Rejection] = (),
    threshold: int = 2,
    cite_for: frozenset[str] = frozenset(REQUIRED),
) -> EditResult:
    """Apply every edit that cites known evidence (when its op is in ``cite_for``), is not a
    rejected one repeated without new evidence, and finds its place; drop the others with the
    reason."""
    files = {f.path: f.content for f in current.files}
    result = EditResult(files=files)
    rejected = list(rejected)
    index = evidence_ids if isinstance(evidence_ids, EvidenceIndex) else EvidenceIndex(evidence_ids)
    # Bullet ids name the bullets of the files the model saw, before any edit moved them.
    edits = [by_text(edit, current) for edit in edits]
    for edit in edits:
        cited = index.cited(edit.evidence)
        if not cited and edit.op in cite_for:
            result.dropped.append((edit, "cites no evidence id from the samples"))
            continue
        refused = rejected_reason(edit, cited, rejected, threshold=threshold)
        refused = refused or scope_refusal(edit, current, index, cited)
        if refused:
            result.dropped.append((edit, refused))
            continue
        problem = _apply(edit, current, target, files)
        if problem:
            result.dropped.append((edit, problem))
        else:
            result.applied.append(Applied(edit, cited))
    return result


def out_of_scope(path: str, text: str, cited: Iterable[str], index: EvidenceIndex) -> str | None:
    """Why the prompt file at ``path`` (content ``text``) may not change for the evidence
    ``cited``, or None: a file scoped to some paths (``prompt_kinds.scope_of``: ``applyTo``,
    ``globs``, a nested ``CLAUDE.md``'s directory) changes only when some cited evidence is
    about a path in its scope (a reviewed file, a failing test's file, a changed or fixed
    file). An index that knows no paths (a reviewer's request on the bot's own PR, in
    ``revise``) checks no scope."""
    scope = scope_of(path, text)
    if scope is None or index.paths is None:
        return None
    about = index.paths_of(cited)
    if any(scope.covers(p) for p in about):
        return None
    shown = ", ".join(sorted(about)[:3]) + (" ..." if len(about) > 3 else "")
    return f"{path} applies only to {scope.why}; the cited evidence is about " + (
        shown or "no file"
    )


def scope_refusal(
    edit: Edit, current: PromptSet, index: EvidenceIndex, cited: tuple[str, ...]
) -> str | None:
    """``out_of_scope`` for the file ``edit`` changes (its ``file``, else the main file; a new
    subagent has no scope): run by ``apply_edits`` and, before the check call, by
    ``check.vet_edits``, so every strategy's edits (the ``rules`` strategy's appended rules
    too) change a path-scoped file only for evidence in its scope."""
    if edit.op == "add_subagent":
        return None
    files = {f.path: f.content for f in current.files}
    path = _path(edit.file, files) or current.main.path
    return out_of_scope(path, files.get(path, ""), cited, index)


def _apply(edit: Edit, current: PromptSet, target: Target, files: dict[str, str]) -> str | None:
    if edit.op == "add_subagent":
        return _add_subagent(edit, current, target, files)
    path = _path(edit.file, files) or current.main.path
    if path not in files:
        return f"no prompt file {path!r} in target {target.name!r}"
    lines = files[path].split("\n")
    new = _one_line(edit.new_text)
    if edit.op in ("add", "modify") and not new:
        return "no new text"
    if edit.op == "add":
        lines = _insert(lines, edit.target_text, new)
    else:
        place = locate(lines, edit.target_text)
        if isinstance(place, str):
            return f"{place} in {path}: {edit.target_text[:80]!r}"
        start, end = place
        replacement = _replacement(lines[start:end], edit.new_text) if edit.op == "modify" else []
        lines = lines[:start] + replacement + lines[end:]
    files[path] = "\n".join(lines)
    return None


def by_text(edit: Edit, current: PromptSet) -> Edit:
    """``edit`` with a ``B3`` target replaced by that bullet's text in the unedited file."""
    if not BULLET_ID.match(edit.target_text.strip().lstrip("-*+ ")):
        return edit
    lines = content_of(edit, current).split("\n")
    place = locate(lines, edit.target_text)
    if isinstance(place, str):
        return edit
    text = "\n".join(lines[place[0] : place[1]])
    return edit.model_copy(update={"target_text": text})


def path_of(edit: Edit, current: PromptSet) -> str:
    """The path of the prompt file ``edit`` is about (the main file when it names none)."""
    return _path(edit.file, {f.path: f.content for f in current.files}) or current.main.path


def content_of(edit: Edit, current: PromptSet) -> str:
    """The unedited text of the prompt file ``edit`` is about ("" for a file that is not one)."""
    path = path_of(edit, current)
    return next((f.content for f in current.files if f.path == path), "")


def _path(name: str, files: Mapping[str, str]) -> str:
    """The prompt file ``name`` means: its path, or a unique file name (``CLAUDE.md``)."""
    name = name.strip().lstrip("./")
    if not name or name in files:
        return name
    ends = [p for p in files if p.rsplit("/", 1)[-1] == name.rsplit("/", 1)[-1]]
    return ends[0] if len(ends) == 1 else name


def _insert(lines: list[str], anchor: str, new: str) -> list[str]:
    """Insert a bullet after the anchor bullet, after the list under an anchor heading (named
    with or without its ``#``), or, when the anchor is not found, at the end of the file."""
    if anchor.strip():
        place = _find(lines, anchor)
        if place is not None:
            start, end = place
            indent, marker = _marker(lines[start])
            return [*lines[:end], f"{indent}{marker} {new}", *lines[end:]]
        heading = _heading(lines, anchor)
        if heading is not None:
            return _after_section(lines, heading, new)
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return [*lines, f"- {new}", ""]


def _heading(lines: list[str], anchor: str) -> int | None:
    """The one heading line that ``anchor`` names, ``#``s, case and marks ignored."""
    wanted = normalize(HEADING.sub(r"\1", anchor.strip()))
    front = frontmatter_lines("\n".join(lines))
    found = [
        n
        for n, ln in enumerate(lines)
        if n >= front and (m := HEADING.match(ln)) and wanted and normalize(m.group(1)) == wanted
    ]
    return found[0] if len(found) == 1 else None


def _after_section(lines: list[str], heading: int, new: str) -> list[str]:
    """After the last bullet of the section that starts at ``heading``."""
    end = heading + 1
    last = heading
    while end < len(lines) and not lines[end].startswith("#"):
        if lines[end].strip():
            last = end
        end += 1
    gap = [""] if last == heading else []
    return [*lines[: last + 1], *gap, f"- {new}", *lines[last + 1 :]]


def _add_subagent(
    edit: Edit, current: PromptSet, target: Target, files: dict[str, str]
) -> str | None:
    name = edit.subagent_name.strip()
    if not target.subagents:
        return f"target {target.name!r} has no subagents directory"
    if not name or not edit.subagent_description.strip() or not edit.new_text.strip():
        return "a subagent needs a name, a description and a prompt"
    problem = subagent_name_problem(name)
    if problem:
        return problem
    if any(s.name == name for s in current.subagents):
        return f"subagent {name!r} exists already"
    path = subagent_path(target, name)
    if path in files:
        return f"{path} exists already"
    sub = Subagent(
        name=name, description=edit.subagent_description.strip(), prompt=edit.new_text, path=path
    )
    files[path] = render_subagent(sub)
    return None


MARKED = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+)\[B\d+\]\s*", re.MULTILINE)
TOKEN = re.compile(r"[^\s,;()\[\]<>]+")


def unnumbered(text: str) -> str:
    """``text`` without the ``[B3]`` ids a model may have copied from the numbered view."""
    return MARKED.sub(r"\1", text)


def diff_edits(before: str, after: str, summary: str, index: EvidenceIndex) -> list[Edit]:
    """A whole-file rewrite as itemized bullet edits: each removed or changed bullet becomes a
    ``remove`` or ``modify`` citing the evidence the summary gives on the lines that name it
    (its ``B3`` id or its first five words), each new bullet an ``add`` after the bullet before
    it. Text outside bullets is not carried over."""
    import difflib  # noqa: PLC0415 - only the rewrite strategy diffs

    old, new = bullets(before), bullets(unnumbered(after))
    keys = [normalize(b) for b in old], [normalize(b) for b in new]
    edits: list[Edit] = []
    matcher = difflib.SequenceMatcher(a=keys[0], b=keys[1], autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        pairs = _pairs(keys[0][a0:a1], keys[1][b0:b1])
        for i in range(a0, a1):
            evidence = list(summary_ids(summary, index, i + 1, old[i]))
            j = pairs.get(i - a0)
            if j is None:
                edits.append(Edit(op="remove", target_text=old[i], evidence=evidence))
            else:
                edits.append(
                    Edit(op="modify", target_text=old[i], new_text=new[b0 + j], evidence=evidence)
                )
        anchor = old[a0 - 1] if a0 else ""  # the unchanged bullet before the change
        for j in range(b0, b1):
            if j - b0 in pairs.values():
                continue
            evidence = list(summary_ids(summary, index, None, new[j]))
            edits.append(Edit(op="add", target_text=anchor, new_text=new[j], evidence=evidence))
            anchor = new[j]
    return edits


#: Word overlap at which a rewritten bullet counts as the old one changed, not a new one.
CHANGED = 0.3


def _pairs(old: list[str], new: list[str]) -> dict[int, int]:
    """Old bullet -> new bullet for those the rewrite changed (similar enough), in order."""
    pairs: dict[int, int] = {}
    j = 0
    for i, text in enumerate(old):
        words = set(text.split())
        for k in range(j, len(new)):
            if _jaccard(words, set(new[k].split())) >= CHANGED:
                pairs[i], j = k, k + 1
                break
    return pairs


def summary_ids(
    summary: str, index: EvidenceIndex, number: int | None, text: str
) -> tuple[str, ...]:
    """Evidence ids on the summary's lines that name bullet ``B<number>`` or quote ``text``'s
    first five words."""
    head = " ".join(normalize(text).split()[:PREFIX_WORDS])
    lines = [
        ln
        for ln in summary.split("\n")
        if (number and re.search(rf"\bB{number}\b", ln)) or (head and head in normalize(ln))
    ]
    return index.cited(t.rstrip(".:") for ln in lines for t in TOKEN.findall(ln))


def add_learned_rules(text: str, rules: Iterable[str]) -> tuple[str, list[str]]:
    """Append rules under the ``## Learned rules`` section (created at the end when missing).
    Returns the text and the rules added, each on one line. (Whether a rule restates a bullet
    is ``train.restate``'s to say, before.)"""
    lines = text.split("\n")
    added = [_one_line(rule) for rule in rules if _one_line(rule)]
    if not added:
        return text, added
    heading = next((n for n, ln in enumerate(lines) if ln.strip() == LEARNED_RULES), None)
    if heading is None:
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        lines += ["", LEARNED_RULES, ""] + [f"- {rule}" for rule in added] + [""]
        return "\n".join(lines), added
    for rule in added:
        lines = _after_section(lines, heading, rule)
    return "\n".join(lines), added


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def files_of(current: PromptSet, files: dict[str, str]) -> tuple[PromptFile, ...]:
    """The candidate's files in path order (every current file, edited or not, and new ones)."""
    return tuple(PromptFile(path=p, content=c) for p, c in sorted(files.items()))
