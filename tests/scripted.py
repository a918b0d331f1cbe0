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
