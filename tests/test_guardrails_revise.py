"""The review loop's revision passes the same guardrails as training before anything is pushed:
a revised prompt with a secret, or a subagent named like a path, never reaches the branch, and
the reply says why (end to end against the local GitHub and LM servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prompt_trainer.cli import main
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply
from tests.test_review_loop import BRANCH, bot_pr, command_event, review_comment

__all__ = ["bot_pr"]  # the fixture, used by name
SECRET = "ghp_" + "R3v1s3d" * 6


def revise_with(llm: FakeLLM, edits: list[dict[str, Any]], url: str) -> None:
    def reply(request: dict[str, Any]) -> str:
        return chat_adapter_reply(edits=edits, replies=[{"id": url, "reply": "Done."}])

    llm.script = [by_signature(replies=reply)]


def test_a_revision_that_fails_the_guardrails_is_not_pushed_and_the_reply_says_why(
    github: FakeGitHub, llm: FakeLLM, bot_pr: int, env: dict[str, str], tmp_path: Path
) -> None:
    url = review_comment(github, bot_pr, "Say which token to use.", association="MEMBER")
    edit = {"op": "add", "new_text": f"Authenticate with {SECRET}.", "evidence": [url]}
    revise_with(llm, [edit], url)
    before = github.refs[f"heads/{BRANCH}"]
    event = command_event(tmp_path, bot_pr, "/prompt-trainer revise")

    assert main(["respond"], env={**env, **event}) == 0

    assert github.refs[f"heads/{BRANCH}"] == before
    assert SECRET not in "".join(b.decode("utf-8", "replace") for b in github.blobs.values())
    (reply,) = [c["body"] for c in github.pulls[bot_pr].issue_comments]
    assert "The revision was not pushed" in reply
    assert "CLAUDE.md contains a secret or a redaction marker" in reply
    assert SECRET not in reply


def test_a_subagent_named_like_a_path_is_dropped_and_the_rest_is_pushed(
    github: FakeGitHub, llm: FakeLLM, bot_pr: int, env: dict[str, str], tmp_path: Path
) -> None:
    url = review_comment(github, bot_pr, "Add a reviewer subagent.", association="MEMBER")
    edits = [
        {
            "op": "add_subagent",
            "subagent_name": "../../.github/workflows/owned",
            "subagent_description": "d",
            "new_text": "x",
            "evidence": [url],
        },
        {"op": "add", "new_text": "Ask for a review before merging.", "evidence": [url]},
    ]
    revise_with(llm, edits, url)
    event = command_event(tmp_path, bot_pr, "/prompt-trainer revise")

    assert main(["respond"], env={**env, **event}) == 0

    files = github.files_at(BRANCH)
    assert "- Ask for a review before merging." in files["CLAUDE.md"]
    assert not [p for p in files if "owned" in p]
    (reply,) = [c["body"] for c in github.pulls[bot_pr].issue_comments]
    assert "is a path (no '/', '..' or absolute paths)" in reply
