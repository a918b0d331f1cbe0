"""The dashboard issue: created once, edited in place, never duplicated; shows versions,
proposals, rejections, skips and evidence; its checkboxes are commands for the next run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.loop.dashboard import (
    MARKER,
    read_commands,
    rejection_key,
    without_allowed,
)
from prompt_trainer.memory import BULLETS, BulletEntry, ClusterTarget, dumps
from prompt_trainer.models import Rejection
from tests.servers.github import FakeGitHub, Fault, Issue
from tests.servers.llm import FakeLLM
from tests.test_followup import bot_pull

LABEL = "prompt-trainer-dashboard"


def dashboards(github: FakeGitHub) -> list[Issue]:
    return [i for i in github.issues.values() if LABEL in i.labels]


def test_the_first_run_creates_it_and_later_runs_edit_it_in_place(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    assert main(["run", "--pr", "7"], env=env) == 0
    (board,) = dashboards(github)
    body = board.body or ""
    assert body.startswith(MARKER) and board.title == "prompt-trainer dashboard"
    assert "### `coder`" in body
    assert "| version | introduced | samples | tests.pass_rate |" in body
    (proposal,) = [n for n, p in github.pulls.items() if p.head_ref == "prompt-trainer/coder"]
    assert (
        f"- `coder`: [#{proposal}](https://github.com/octo-org/agent-repo/pull/{proposal})" in body
    )
    assert "Evidence collected: 1 PR(s)" in body and "The ledger holds 1 sample(s)." in body
    assert "- [ ] retrain `coder` now" in body
    assert main(["run", "--pr", "7"], env=env) == 0
    (again,) = dashboards(github)
    assert again.number == board.number and again.edits == 1


def test_a_skipped_target_is_explained_and_the_retrain_box_trains_it(
    github: FakeGitHub, llm: FakeLLM, ready: Path, env: dict[str, str]
) -> None:
    config = ready / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text().replace("training:\n", "training:\n  min_samples: 5\n"))
    assert main(["run", "--pr", "7"], env=env) == 0
    assert not llm.requests
    (board,) = dashboards(github)
    assert "- `coder`: 1 stored sample(s) ran on the current prompts" in (board.body or "")
    assert "5 needed (training.min_samples)" in (board.body or "")
    board.body = (board.body or "").replace("- [ ] retrain `coder`", "- [x] retrain `coder`")
    assert main(["run", "--pr", "7"], env=env) == 0
    assert llm.requests  # trained although below min_samples
    assert any(p.head_ref == "prompt-trainer/coder" for p in github.pulls.values())
    assert "- [ ] retrain `coder` now" in (board.body or "")  # acted upon: cleared


def test_without_a_key_the_dashboard_says_why_nothing_was_trained(
    github: FakeGitHub, github_env: dict[str, str], ready: Path
) -> None:
    assert main(["run", "--pr", "7"], env=github_env) == 0
    (board,) = dashboards(github)
    assert "- `coder`: training skipped: no API key for openai/test-model" in (board.body or "")


def test_rejected_edits_are_listed_and_a_ticked_one_stays_allowed(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    change = {"path": "CLAUDE.md", "op": "add", "text": "Skip slow tests.", "evidence": ["t::a"]}
    bot_pull(github, 9, merged=False, state={"target": "coder", "changes": [change]})
    assert main(["run", "--pr", "7"], env=env) == 0
    (board,) = dashboards(github)
    key = rejection_key(Rejection(text="Skip slow tests.", evidence=frozenset({"t::a"}), pull=9))
    line = f"- [ ] allow again: `coder` «Skip slow tests.» (closed in #9) <!-- prompt-trainer:allow:{key} -->"
    assert line in (board.body or "")
    board.body = (board.body or "").replace(line, line.replace("[ ]", "[x]"))
    capsys.readouterr()
    assert main(["run", "--pr", "7"], env=env) == 0
    assert "1 rejected edit(s) allowed again" in capsys.readouterr().err
    assert line.replace("[ ]", "[x]") in (board.body or "")  # still ticked after the re-render


def test_a_lost_answer_to_the_create_does_not_make_a_second_issue(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    github.faults.append(Fault("POST", r"/issues", 502, after=True))
    assert main(["run", "--pr", "7"], env=env) == 0
    assert main(["run", "--pr", "7"], env=env) == 0
    assert len(dashboards(github)) == 1


def test_a_dashboard_failure_never_fails_the_run(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    github.faults.append(Fault("POST", r"/issues", 403, times=99, message="no issues: write"))
    assert main(["run", "--pr", "7"], env=env) == 0
    assert "dashboard: not updated" in capsys.readouterr().err
    assert any(p.head_ref == "prompt-trainer/coder" for p in github.pulls.values())


def test_dry_runs_and_disabled_dashboards_write_no_issue(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    assert main(["run", "--pr", "7", "--dry-run"], env=env) == 0
    config = ready / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "dashboard:\n  enabled: false\n")
    assert main(["run", "--pr", "7"], env=env) == 0
    assert not github.issues


def test_commands_are_read_from_ticked_boxes_only() -> None:
    body = "\n".join(
        [
            "- [x] retrain `coder` now <!-- prompt-trainer:retrain:coder -->",
            "- [ ] retrain `docs` now <!-- prompt-trainer:retrain:docs -->",
            "* [X] allow again: x <!-- prompt-trainer:allow:9-abc -->",
            "- [x] something else <!-- prompt-trainer:delete:all -->",
            "> - [x] quoted <!-- prompt-trainer:retrain:quoted -->",
        ]
    )
    commands = read_commands(body)
    assert commands.retrain == {"coder"} and commands.allowed == {"9-abc"}
    rejected = Rejection(text="x", evidence=frozenset(), pull=9)
    assert without_allowed({"coder": [rejected]}, frozenset({rejection_key(rejected)})) == {
        "coder": []
    }
    assert json.dumps(sorted(commands.retrain)) == '["coder"]'


def test_an_unreadable_evaluation_opens_a_draft_and_the_dashboard_says_why(
    github: FakeGitHub, llm: FakeLLM, ready: Path, env: dict[str, str]
) -> None:
    """Twenty stored PRs besides #7, so that failures are held out; the judge's answers (the
    trainer's reply, scripted for every request) hold no verdicts."""
    from prompt_trainer.settings import Target  # noqa: PLC0415
    from prompt_trainer.store import open_ledger  # noqa: PLC0415
    from prompt_trainer.targets import LocalSource, load_prompt_set  # noqa: PLC0415
    from tests.test_judge import pr  # noqa: PLC0415

    config = ready / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text().replace("  holdout: 0  #", "  holdout: 0.3  #"))
    target = Target(name="coder", main="CLAUDE.md", subagents=".claude/agents", max_subagents=2)
    version = load_prompt_set(target, LocalSource(ready)).version
    kinds = ["rounding", "client", "clean", "clean"] * 5
    open_ledger(ready).upsert([pr(100 + n, kind, version) for n, kind in enumerate(kinds)])
    assert main(["run", "--pr", "7"], env=env) == 0
    (pull,) = [p for p in github.pulls.values() if p.head_ref == "prompt-trainer/coder"]
    assert pull.draft and "> [!NOTE]\n> Opened as a draft" in (pull.body or "")
    (board,) = dashboards(github)
    assert "Opened as a draft:\n\n- `coder`: held-out: the judge's answers could not be read" in (
        board.body or ""
    )


#: Merged proposal #30's rule, as the bullet ledger keeps it: it targeted the rounding failures,
#: 4 of 6 PRs before it, 1 of 6 since; and the row the PR body and the dashboard show for it.
MERGED_30 = BulletEntry(
    target="coder", path="CLAUDE.md", text="Quantize money.", op="add", pull=30,
    merged_at=datetime(2026, 11, 21, tzinfo=UTC),
    targets=(
        ClusterTarget(
            cluster="test:rounding", label="failing test: rounding <n>", reason="cited t::a"
        ),
    ),
    before=("a1", "a2", "a3", "a4", "a5", "a6"), after=("b1", "b2", "b3", "b4", "b5", "b6"),
    hits=("a1", "a2", "a3", "a4", "b1"),
)  # fmt: skip
MERGED_30_ROW = (
    "| #30 (2026-11-21) | failing test: rounding &lt;n> | 4 of 6 | 1 of 6 | 0.12 | fell |"
)


def test_the_dashboard_and_the_pr_body_show_what_earlier_merges_did(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    """The bullet ledger on the data branch says #30's rule targeted the rounding failures: 4
    of 6 PRs before it, 1 of 6 since. The next run's PR body and dashboard say so."""
    github.commit({BULLETS: dumps([MERGED_30])}, branch="prompt-trainer-data")
    assert main(["run", "--pr", "7"], env=env) == 0
    row = MERGED_30_ROW
    (board,) = dashboards(github)
    assert "## What earlier merges did" in (board.body or "")
    assert row in (board.body or "")
    (proposal,) = [p for p in github.pulls.values() if p.head_ref == "prompt-trainer/coder"]
    assert row in (proposal.body or "")
    assert "Fisher's exact test, one-sided: did they fall?" in (proposal.body or "")


def test_without_merged_outcomes_the_dashboard_says_so(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    assert main(["run", "--pr", "7"], env=env) == 0
    (board,) = dashboards(github)
    assert "No merged proposal has targeted a failure cluster yet." in (board.body or "")
