"""Reviews: suggestion blocks, reply threads, and which comments count as feedback."""

from __future__ import annotations

import json
from pathlib import Path

from prompt_trainer.collect.evidence import load_reviews
from prompt_trainer.collect.reviews import keep, suggestions
from prompt_trainer.models import Feedback
from prompt_trainer.settings import Limits

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
