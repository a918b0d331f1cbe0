"""Answers scripted the way real models write them, for the trainer's signatures: a reflection
that cites the items it was pointed at in the `<sample id>/E3` form, and checkers, strict and
lenient (one that passes every edit, as a lenient model does)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.servers.llm import chat_adapter_reply, user_text

Request = dict[str, Any]
SECTION = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)(?=\n\n\[\[ ## |\n\nRespond with|\Z)", re.S)


def sections(request: Request) -> dict[str, str]:
    """The input fields of a request, by name, as DSPy wrote them."""
    return {m.group(1): m.group(2).strip() for m in SECTION.finditer(user_text(request))}


def field(request: Request, name: str) -> Any:
    """One input field, read as JSON."""
    return json.loads(sections(request)[name])


def reflect(request: Request) -> str:
    """Cites the first focus item of each sample shown, as `<sample id>/E3`; says the bullet
    that speaks of the cluster's subject was ignored."""
    cluster = field(request, "cluster")
    cited = [f"{s['id']}/{s['focus'][0]}" for s in field(request, "samples") if s.get("focus")]
    return chat_adapter_reply(
        root_cause=f"The agent repeated the failure: {cluster['label'][:80]}.",
        correct_approach="Follow the repository's convention that the reviewers point to.",
        bullets=[{"bullet": "CLAUDE.md B2", "verdict": "ignored", "note": "not followed"}],
        evidence=cited,
    )


def proposed(request: Request) -> list[dict[str, Any]]:
    """The edits a check request shows."""
    return list(field(request, "proposed"))


def checker(passes: Callable[[dict[str, Any]], bool]) -> Callable[[Request], str]:
    """A check that passes the edits ``passes`` accepts, with a reason for the others."""

    def check(request: Request) -> str:
        verdicts = [
            {
                "edit": e["edit"],
                "shows_failure": passes(e),
                "specific": True,
                "reason": "The quoted failure is what the edit prevents."
                if passes(e)
                else "The quoted items show another failure.",
            }
            for e in proposed(request)
        ]
        return chat_adapter_reply(verdicts="```json\n" + json.dumps(verdicts) + "\n```")

    return check


#: A lenient checker: says yes to everything, as models often do.
lenient = checker(lambda _: True)


# -- GEPA's reflection and metric (strategy gepa), for the kinds of ``tests.synthetic`` --------

#: Per kind of failure: words of its failure or evidence (lowercase), the bullet a careful model
#: writes for it, and the section it belongs in.
FIXES = (
    (("incompatible return",), "Run `mypy invoices` and fix every error before opening the PR.",
     "## Workflow"),
    (("decimal",), 'Round money with `quantize(Decimal("0.01"), ROUND_HALF_UP)`; never `float`.',
     "## Money"),
    (("second", "apiclient"),
     "Add billing calls to `ApiClient` in `invoices/api_client.py`; never a second HTTP client.",
     "## HTTP"),
    (("timed out",), "Call the billing API through `ApiClient.request`, which retries timeouts.",
     "## HTTP"),
    (("no such column", "migration"),
     "After changing a model, run `python manage.py makemigrations invoices`.", "## Workflow"),
    (("ruff", "unsorted"), "Run `ruff check --fix` before pushing.", "## Workflow"),
)  # fmt: skip
JUNK = "Always be careful and write correct code."


def fix_of(text: str) -> tuple[str, str] | None:
    """The bullet and section for the first kind whose words ``text`` shows."""
    low = text.lower()
    return next(((rule, home) for words, rule, home in FIXES if any(w in low for w in words)), None)


def revise(request: Request) -> str:
    """A careful reflection (``ReviseSection``): for each pull request of the feedback whose
    failure belongs in this part (its section, or any in the main file's text before its first
    ``##`` heading, which starts with the title),
    one bullet that names the fix, citing that PR's evidence; the part unchanged (and ``[]``)
    when none belongs here."""
    part = sections(request)
    current = part["current_text"]
    added: list[str] = []
    cited: list[dict[str, Any]] = []
    for record in json.loads(part["feedback"]):
        said = " ".join([*record["failures"], *(e["text"] for e in record["evidence"])])
        found = fix_of(said)
        here = current.startswith((found[1], "# ")) if found else False
        if found and here and found[0] not in current + "".join(added):
            added.append(found[0])
            cited.append({"bullet": found[0], "evidence": [e["id"] for e in record["evidence"]]})
    text = current.rstrip("\n") + "".join(f"\n- {rule}" for rule in added) + "\n"
    return chat_adapter_reply(new_text=text, citations=cited)


def junk_revision(cite: str = "task") -> Callable[[Request], str]:
    """A reflection that rewrites the whole part into junk, keeping its heading: prose, a
    platitude and a "best practices" bullet, citing the first PR's task (``cite="task"``) or its
    first piece of real evidence (``cite="evidence"``)."""

    def reply(request: Request) -> str:
        part = sections(request)
        heading = part["current_text"].split("\n", 1)[0]
        first = json.loads(part["feedback"])[0]
        ids = [f"{first['pull_request']}:task"] if cite == "task" else [first["evidence"][0]["id"]]
        text = (f"{heading}\n\n" if heading.startswith("## ") else "") + (
            f"You are a world-class engineer.\n\n- {JUNK}\n- Follow best practices.\n"
        )
        return chat_adapter_reply(new_text=text, citations=[{"bullet": JUNK, "evidence": ids}])

    return reply


def judge_fixes(lenient: bool = False) -> Callable[[Request], str]:
    """The per-failure judge (``JudgeEdits``): "prevents" when an edit adds the bullet for the
    failure's kind, "irrelevant" otherwise; a lenient judge says "prevents" to everything."""

    def reply(request: Request) -> str:
        failures = field(request, "failures") or [{"ref": "-", "what": ""}]
        effects = []
        for edit in field(request, "edits"):
            added = "\n".join(ln for ln in edit["diff"].split("\n") if ln.startswith("+ "))
            for failure in failures:
                found = fix_of(failure["what"])
                fixed = lenient or (found is not None and found[0] in added)
                verdict = "prevents" if fixed and failure["what"] else "irrelevant"
                why = "It names the fix." if verdict == "prevents" else "About something else."
                effects.append(
                    {"edit": edit["ref"], "failure": failure["ref"], "verdict": verdict, "why": why}
                )
        return chat_adapter_reply(effects=effects)

    return reply


def curate_fixes(request: Request) -> str:
    """A curation (``Curate``) writing, for each cluster it is shown whose kind it knows, the
    bullet a careful model writes, in its section, citing the cluster's quoted evidence."""
    edits = []
    for cluster in field(request, "clusters"):
        said = " ".join([cluster["label"], *(e["text"] for e in cluster.get("evidence", []))])
        found = fix_of(said)
        if found is None:
            continue
        edits.append(
            {
                "op": "add",
                "target_text": found[1],
                "new_text": found[0],
                "cluster": cluster["id"],
                "evidence": [e["id"] for e in cluster.get("evidence", [])][:3],
                "reason": "It recurs.",
            }
        )
    return chat_adapter_reply(edits=edits, analysis_summary="One edit per kind that recurs.")
