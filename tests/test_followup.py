"""After a proposal closes: rejected edits are not proposed again without new evidence; a merged
one gets its realized deltas, and a revert PR when a key metric got significantly worse."""

from __future__ import annotations

import json
import re
from typing import Any

from prompt_trainer.github import GitHubClient
from prompt_trainer.loop.followup import follow_up, rejections_of
from prompt_trainer.measure.facts import Facts
from prompt_trainer.measure.metrics import METRICS, columns, compare_columns, measure_all
from prompt_trainer.measure.report import ComparisonReport, TargetReport, VersionReport
from prompt_trainer.measure.versions import Version
from prompt_trainer.models import PromptFile, PromptSet, Rejection
from prompt_trainer.settings import Target
from prompt_trainer.train.edits import Edit, apply_edits
from tests.servers.github import FakeGitHub, Pull

V1 = "# Rules\n\n- Write tests.\n"
V2 = "# Rules\n\n- Write tests.\n- Skip slow tests.\n"


def state_body(state: dict[str, object]) -> str:
    return f"Body.\n\n<!-- prompt-trainer-state {json.dumps(state)} -->\n"


def bot_pull(github: FakeGitHub, number: int, *, merged: bool, state: dict[str, object]) -> None:
    head = github.refs["heads/main"]
    github.add_pull(
        Pull(
            number=number,
            title="prompt-trainer: improve coder (6 samples)",
            head_ref="prompt-trainer/coder",
            head_sha=head,
            base_ref="main",
            base_sha=head,
            author="github-actions[bot]",
            body=state_body(state),
            state="closed",
            merged=merged,
        )
    )


def test_a_rejected_edit_needs_new_evidence_to_come_back() -> None:
    main = PromptFile(path="CLAUDE.md", content=V1)
    current = PromptSet(target="coder", main=main, files=(main,))
    target = Target(name="coder", main="CLAUDE.md")
    rejected = [Rejection(text="Skip slow tests.", evidence=frozenset({"t::a"}), pull=9)]
    again = Edit(op="add", new_text="Skip the slow tests.", evidence=["t::a", "t::b"])
    result = apply_edits(
        current, target, [again], evidence_ids={"t::a", "t::b", "t::c"}, rejected=rejected
    )
    assert result.dropped and "rejected in #9" in result.dropped[0][1]
    stronger = Edit(op="add", new_text="Skip the slow tests.", evidence=["t::b", "t::c"])
    result = apply_edits(
        current, target, [stronger], evidence_ids={"t::b", "t::c"}, rejected=rejected
    )
    assert result.applied and result.files["CLAUDE.md"].endswith("- Skip the slow tests.\n")


def test_closed_proposals_are_read_back_from_github(github: FakeGitHub) -> None:
    github.commit({"CLAUDE.md": V1}, branch="main")
    change = {"path": "CLAUDE.md", "op": "add", "text": "Skip slow tests.", "evidence": ["t::a"]}
    bot_pull(github, 9, merged=False, state={"target": "coder", "changes": [change]})
    client = GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)
    found = rejections_of(client.closed_own_pulls(("prompt-trainer/coder",)))
    assert found == {
        "coder": [Rejection(text="Skip slow tests.", evidence=frozenset({"t::a"}), pull=9)]
    }


def facts(prefix: str, n: int, passing: int) -> tuple[Facts, ...]:
    return tuple(
        Facts(sample_id=f"{prefix}{k}", url=None, happened_at=None, tests_passed=k < passing)
        for k in range(n)
    )


def test_a_merged_change_that_hurt_gets_its_deltas_and_a_revert_pr(
    github: FakeGitHub, golden: Any
) -> None:
    first = github.commit({"CLAUDE.md": V1}, branch="main", message="rules")
    second = github.commit({"CLAUDE.md": V2}, parent=first, branch="main", message="merge #50")
    v1 = Version("coder", "a" * 12, first[:7], None, first, "rules", ("CLAUDE.md",))
    v2 = Version("coder", "b" * 12, second[:7], None, second, "merge #50", ("CLAUDE.md",))
    before, after = facts("p", 8, 8), facts("q", 8, 1)
    a, b = columns(before), columns(after)
    report = TargetReport(
        "coder",
        (
            VersionReport(v1, before, measure_all(before)),
            VersionReport(v2, after, measure_all(after)),
        ),
        ComparisonReport(
            v1, v2, {m.name: compare_columns(m, a, b, min_samples=5) for m in METRICS}
        ),
        (),
        min_samples=5,
    )
    bot_pull(github, 50, merged=True, state={"target": "coder", "fingerprint": "b" * 12})
    client = GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)
    logs: list[str] = []
    done = follow_up(
        client, {"coder": report}, labels=("prompt-trainer",), write=True, log=logs.append
    )
    again = follow_up(
        client, {"coder": report}, labels=("prompt-trainer",), write=True, log=logs.append
    )
    assert done.commented == [50] and again.commented == []  # one comment, ever
    (comment,) = github.pulls[50].issue_comments
    assert "Realized effect" in comment["body"] and "tests.pass_rate" in comment["body"]
    assert (
        "-87.5 pp" in comment["body"] and "Significantly worse: tests.pass_rate" in comment["body"]
    )
    (revert,) = [p for p in github.pulls.values() if p.head_ref == "prompt-trainer/revert-coder"]
    assert revert.state == "open" and done.reverts == [revert.number] and again.reverts == []
    assert github.files_at("prompt-trainer/revert-coder")["CLAUDE.md"] == V1
    assert github.files_at("main")["CLAUDE.md"] == V2  # never merged by the bot
    shas = {first: "<v1>", second: "<v2>", first[:7]: "<v1>", second[:7]: "<v2>"}
    golden("followup/realized_deltas.md", _stable(comment["body"], shas))
    golden("followup/revert.md", _stable(revert.body or "", shas))


def _stable(text: str, shas: dict[str, str]) -> str:
    """Commit shas depend on the fake's counters: name them."""
    for sha, name in shas.items():
        text = text.replace(sha, name)
    return re.sub(r'"commit": "[0-9a-f]{40}"', '"commit": "<sha>"', text)


def test_nothing_is_said_before_the_new_version_has_enough_samples(github: FakeGitHub) -> None:
    first = github.commit({"CLAUDE.md": V1}, branch="main")
    v1 = Version("coder", "a" * 12, "v1", None, first, "", ("CLAUDE.md",))
    v2 = Version("coder", "b" * 12, "v2", None, first, "", ("CLAUDE.md",))
    before, after = facts("p", 8, 8), facts("q", 2, 0)
    report = TargetReport(
        "coder",
        (
            VersionReport(v1, before, measure_all(before)),
            VersionReport(v2, after, measure_all(after)),
        ),
        None,
        (),
        min_samples=5,
    )
    bot_pull(github, 50, merged=True, state={"target": "coder", "fingerprint": "b" * 12})
    client = GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)
    done = follow_up(client, {"coder": report}, labels=(), write=True, log=lambda _: None)
    assert not done.commented and not github.pulls[50].issue_comments
