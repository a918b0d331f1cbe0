"""Reviews: suggestion blocks, reply threads, and which comments count as feedback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.collect.evidence import load_reviews
from prompt_trainer.collect.reviews import keep, suggestion_blocks, suggestions
from prompt_trainer.models import Feedback
from prompt_trainer.settings import Limits
from tests.scenarios import arrange
from tests.servers.github import FakeGitHub

TRUSTED = ("OWNER", "MEMBER", "COLLABORATOR")


def test_suggestion_blocks_are_read_in_order() -> None:
    body = (
        "Use the helper:\n```suggestion\nreturn client.get(url)\n```\nand also\n"
        "````suggestion\nx = 1\ny = 2\n````\n```python\nnot_a_suggestion()\n```"
    )
    assert suggestions(body) == ("return client.get(url)", "x = 1\ny = 2")
    assert suggestions("no blocks here") == ()


def test_review_file_threads_suggestions_bots_and_own_comments(tmp_path: Path) -> None:
    comments = [
        {
            "id": 1,
            "user": {"login": "alice", "type": "User"},
            "author_association": "MEMBER",
            "body": "```suggestion\nfixed()\n```",
            "path": "a.py",
            "line": 3,
            "diff_hunk": "@@ -1 +1 @@",
        },
        {
            "id": 2,
            "user": {"login": "bob", "type": "User"},
            "author_association": "NONE",
            "body": "agreed",
            "path": "a.py",
            "line": 3,
            "in_reply_to_id": 1,
        },
        {
            "id": 3,
            "user": {"login": "ci-bot[bot]", "type": "Bot"},
            "author_association": "NONE",
            "body": "coverage dropped",
        },
        {
            "id": 4,
            "user": {"login": "github-actions[bot]", "type": "Bot"},
            "author_association": "NONE",
            "body": "<!-- prompt-trainer-state {} -->\nrevised",
        },
    ]
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps(comments))
    loaded = load_reviews(path, trusted=TRUSTED, limits=Limits())
    assert isinstance(loaded, list)
    first, reply, bot, own = loaded
    assert first.suggestions == ("fixed()",) and first.trusted and first.diff_hunk == "@@ -1 +1 @@"
    assert reply.in_reply_to == "review-comment-1" and not reply.trusted
    assert bot.is_bot and own.is_own
    kept = [f.id for f in loaded if keep(f, include_bots=False)]
    assert kept == ["review-comment-1", "review-comment-2"]
    with_bots = [f.id for f in loaded if keep(f, include_bots=True)]
    assert "comment-3" in with_bots and "comment-4" not in with_bots  # never its own words


def test_keep_is_a_pure_rule() -> None:
    own = Feedback(kind="comment", id="c", author="me", body="x", is_own=True)
    assert not keep(own, include_bots=True)


class CountedLines:
    """The lines of a text, counting how many the reader takes."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.read = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.lines:
            self.read += 1
            yield line


@pytest.mark.parametrize(
    "hostile",
    [
        "```suggestion\n" * (65_536 // 14),  # every line opens a block, none closes
        "~~~suggestion\nx\n" * (65_536 // 16),
        "`" * 65_536 + "suggestion\n```",  # one line of backticks
        "````suggestion\n" + "```\n" * (65_536 // 4),  # closings too short for the opening
    ],
)
def test_a_64_kib_comment_is_read_in_one_pass_over_its_lines(hostile: str) -> None:
    lines = CountedLines(hostile)
    found = list(suggestion_blocks(lines))
    assert lines.read == len(lines.lines)  # each line once: work in proportion to the size
    assert found == [] or found == [""]
    assert suggestions(hostile) == tuple(found)


def test_only_trusted_comments_are_parsed_for_suggestions_after_their_trust_is_known(
    github: FakeGitHub, checkout: Path, github_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arrange(github)
    pull = github.pulls[7]
    stranger = "```suggestion\n" * (65_536 // 14) + "```suggestion\nrm -rf /\n```\n"
    pull.issue_comments.append(github.issue_comment_json(7, 901, stranger, login="eve"))
    pull.review_comments[0]["body"] = "Round.\n```suggestion\nquantize(total)\n```"
    monkeypatch.chdir(checkout)

    assert main(["collect", "--pr", "7"], env=github_env) == 0

    (line,) = (checkout / ".prompt-trainer" / "samples.jsonl").read_text().splitlines()
    feedback = {f["id"]: f for f in json.loads(line)["feedback"]}
    maria, eve = feedback["review-comment-501"], feedback["comment-901"]
    assert maria["trusted"] and maria["suggestions"] == ["quantize(total)"]
    assert not eve["trusted"] and eve["suggestions"] == []
    permission = f"/repos/{github.full_name}/collaborators/eve/permission"
    assert any(r.path == permission for r in github.requests)  # trust was asked first
