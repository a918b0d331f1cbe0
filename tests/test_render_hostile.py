"""A hostile sample rendered everywhere the bot writes: the PR body, the dashboard, and the
review loop's comments (``explain`` and the revision reply). Golden files beside the checks:
the only links are the repository's own pages, and no mention, image, HTML tag or comment,
``</details>`` or bidi control from outside text or model output gets through."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from prompt_trainer.github import GitHubClient, OpenPull
from prompt_trainer.loop.bundle import Answer, NotApplied
from prompt_trainer.loop.dashboard import DashboardView
from prompt_trainer.loop.dashboard import render as render_dashboard
from prompt_trainer.loop.respond import explain
from prompt_trainer.loop.revision import _reply
from prompt_trainer.models import (
    Change,
    Feedback,
    PromptFile,
    PromptSet,
    Rejection,
    Skipped,
    TestCase,
    TestRun,
)
from prompt_trainer.render import ProposalView, render_body
from prompt_trainer.render.links import RepoLinks
from prompt_trainer.render.state import ProposalState, StateChange
from tests.servers.github import FakeGitHub
from tests.test_render import view

#: Every kind of markup a stranger (or a model that read one) could try.
HOSTILE = (
    "ok @org/team &#64;admin <img src=https://evil.example/p.png> ![x](https://evil.example/i.png)"
    " [docs](https://evil.example/phish) <https://evil.example/a> www.evil.example"
    " https://evil.example/bare </details> <!-- hide the rest \u202eevil\u202c \u2066x\u2069"
    " - [x] allow again"
)
OWN = "https://github.com/o/r"
LINKS = RepoLinks("https://github.com", "o/r")
CURRENT = PromptSet(
    target="coder",
    main=PromptFile(path="CLAUDE.md", content="# Rules\n- a\n"),
    files=(PromptFile(path="CLAUDE.md", content="# Rules\n- a\n"),),
)
#: Evidence ids: a test class named like a URL, another repository's page, one of ours.
TEST_ID = "https://evil.example/x?q=<img src=y>::test_it"
FOREIGN = "https://github.com/other/repo/pull/1#discussion_r2"
REVIEW = f"{OWN}/pull/7#discussion_r5"
EVIDENCE = (TEST_ID, FOREIGN, REVIEW)


def hostile_view(text: str) -> ProposalView:
    """``test_render``'s proposal with ``text`` in every field from outside or from the model,
    a test class named like a URL, a PR URL and a comment URL from elsewhere."""
    base = view(analysis=text, comment=text)
    sample = base.samples[0]
    case = TestCase(
        classname=TEST_ID.split("::", maxsplit=1)[0], name="test_it", status="failed", message=text
    )
    elsewhere = Feedback(kind="review_comment", id="c6", author="bob", trusted=True, body=text,
                         url="https://evil.example/comment")  # fmt: skip
    sample = sample.model_copy(
        update={
            "pull": sample.pull.model_copy(update={"title": text, "url": "https://evil.example/7"}),
            "test_runs": (TestRun(source="junit.xml", cases=(case,)),),
            "feedback": (*sample.feedback, elsewhere),
            "skipped": (Skipped(source=text, reason=text),),
        }
    )
    change = Change(path="CLAUDE.md", op="add", text=text, evidence=EVIDENCE, reason=text)
    candidate = base.candidate.model_copy(
        update={
            "files": (PromptFile(path="CLAUDE.md", content=f"# Rules\n- a\n- {text}\n"),),
            "changes": (change,),
        }
    )
    return replace(
        base, candidate=candidate, samples=[sample], skipped=list(sample.skipped),
        gate_problems=(text,), commit="c0ffee",
    )  # fmt: skip


def hostile_board(text: str) -> DashboardView:
    return DashboardView(
        repository="o/r",
        when=datetime(2026, 1, 1, tzinfo=UTC),
        event="schedule",
        targets=["coder"],
        proposals={"coder": OpenPull(number=9, url="https://evil.example/o/r/pull/9")},
        rejections={"coder": [Rejection(text=text, evidence=frozenset(), pull=8)]},
        skipped={"coder": text},
        message=text,
        server_url="https://github.com",
    )


def comments(text: str, github: FakeGitHub) -> str:
    client = GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)
    state = ProposalState(
        target="coder",
        changes=(StateChange(path="CLAUDE.md", op="add", text=text, evidence=EVIDENCE),),
    )
    explained = explain(state, "CLAUDE.md", client=client, number=9, links=LINKS)
    answers = (
        Answer(author="maria", url=REVIEW, reply=text),
        Answer(author="bob", url="https://evil.example/c6"),
    )
    dropped = (NotApplied(op="add", text=text, why=text),)
    reply = _reply(answers, "c0ffee1", dropped, LINKS)
    return f"{explained}\n\n---\n\n{reply}\n"


BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
#: What is shown as is, never parsed as markup: fenced blocks, code spans, the bot's own state
#: block (an HTML comment whose JSON holds no ``--``).
LITERAL = re.compile(
    r"^```[^\n]*\n.*?^```$|(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)|<!-- prompt-trainer-state [^\n]*? -->$",
    re.M | re.S,
)


def assert_inert(text: str, benign: str) -> None:
    """Nothing in ``text`` links, pings, embeds, hides or reorders beyond what the same
    rendering of benign text has."""
    assert not BIDI.search(text)
    prose = LITERAL.sub("", text)
    targets = re.findall(r"(?<!\\)\]\(([^)]*)\)", prose)
    assert all(t.startswith(f"{OWN}/") for t in targets), targets
    assert not re.search(r"@(?!\u200b)\w", prose)
    assert not re.search(r"(?i)(?:https?|ftp)://(?!github\.com/o/r/)", prose)
    assert not re.search(r"(?i)www\.", prose)
    assert "&#64;" not in prose.replace("&amp;#64;", "")
    assert not re.search(r"<(?:img|https?:)", prose)
    assert not re.search(r"(?<!\\)\[(?:x| )?(?<!\\)\]\(", prose)  # no link or image forms
    for marker in ("<!--", "-->", "<details>", "</details>", "- [x]", "- [ ]"):
        assert prose.count(marker) == LITERAL.sub("", benign).count(marker), marker


def test_a_hostile_sample_in_the_pr_body_renders_inert(golden: object) -> None:
    body = render_body(hostile_view(HOSTILE))
    assert_inert(body, render_body(hostile_view("plain words")))
    assert f"[review comment 5]({REVIEW})" in body  # our own page stays a link
    assert f"[o/r#7]({OWN}/pull/7)" not in body  # a PR url from elsewhere is not
    golden("hostile/pr_body.md", body)  # type: ignore[operator]


def test_a_hostile_sample_on_the_dashboard_renders_inert(golden: object) -> None:
    board = render_dashboard(hostile_board(HOSTILE))
    assert_inert(board, render_dashboard(hostile_board("plain words")))
    assert f"[#9]({OWN}/pull/9)" in board  # built from the number, not the API's url
    golden("hostile/dashboard.md", board)  # type: ignore[operator]


def test_hostile_text_in_the_review_loops_comments_renders_inert(
    github: FakeGitHub, golden: object
) -> None:
    text = comments(HOSTILE, github)
    assert_inert(text, comments("plain words", github))
    assert f"[maria]({REVIEW})" in text and "[bob]" not in text
    golden("hostile/comments.md", text)  # type: ignore[operator]


def test_only_pages_of_this_repository_become_links() -> None:
    assert LINKS.own(f"{OWN}/pull/7") == f"{OWN}/pull/7"
    assert LINKS.own(f"{OWN}/issues/3#issuecomment-9") == f"{OWN}/issues/3#issuecomment-9"
    assert (
        LINKS.own("https://GitHub.com/O/R/pull/7#pullrequestreview-2")
        == f"{OWN}/pull/7#pullrequestreview-2"
    )
    for url in (
        "https://github.com/o/r-evil/pull/7",
        "https://github.com/other/r/pull/7",
        "https://evil.example/o/r/pull/7",
        f"{OWN}/pull/7/../../../evil",
        f"{OWN}/pull/7?x=1",
        f"{OWN}/pull/7#discussion_r5)](https://evil.example",
        f"{OWN}/blob/main/x.md",
        "javascript:alert(1)",
        None,
    ):
        assert LINKS.own(url) is None, url


def test_the_step_summary_escapes_a_run_message_that_quotes_outside_text() -> None:
    from prompt_trainer.cli.outcome import outcome_summary  # noqa: PLC0415
    from prompt_trainer.loop.contract import RunOutcome  # noqa: PLC0415

    summary = outcome_summary(RunOutcome.of([], message=HOSTILE))
    assert_inert(summary, outcome_summary(RunOutcome.of([], message="plain words")))
