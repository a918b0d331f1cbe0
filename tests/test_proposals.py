"""One pull request per target, created, updated, left alone or closed, idempotently, through
PyGithub against the local GitHub server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from tests.scenarios import MAIN_PROMPT, SUBAGENT, other_reply
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM, chat_adapter_reply

BRANCH = "prompt-trainer/coder"


def rerun(checkout: Path, env: dict[str, str], llm: FakeLLM, reply: object) -> None:
    """Run again with a different model answer (the DSPy cache would repeat the last one)."""
    shutil.rmtree(checkout / ".prompt-trainer" / "cache", ignore_errors=True)
    llm.script = [reply]  # type: ignore[list-item]
    assert main(["run", "--pr", "7"], env=env) == 0


def bot_pull(github: FakeGitHub) -> object:
    (pull,) = [p for p in github.pulls.values() if p.head_ref == BRANCH]
    return pull


@pytest.fixture
def proposed(ready: Path, env: dict[str, str]) -> Path:
    assert main(["run", "--pr", "7"], env=env) == 0
    return ready


def test_a_different_candidate_force_updates_the_branch_and_edits_the_body(
    github: FakeGitHub, llm: FakeLLM, proposed: Path, env: dict[str, str], tmp_path: Path
) -> None:
    first = github.refs[f"heads/{BRANCH}"]
    outputs = tmp_path / "outputs"
    rerun(proposed, {**env, "GITHUB_OUTPUT": str(outputs)}, llm, other_reply)
    pull = bot_pull(github)
    head = github.refs[f"heads/{BRANCH}"]
    assert head != first and github.commits[head]["parents"] == [github.refs["heads/main"]]
    assert "Parse amounts with Decimal(str)." in github.files_at(BRANCH)["CLAUDE.md"]
    state = json.loads(pull.body.split("<!-- prompt-trainer-state ")[1].split(" -->")[0])  # type: ignore[attr-defined]
    assert state["commit"] == head
    assert "operation=updated" in outputs.read_text()


def test_after_a_human_pushes_the_bot_comments_instead_of_force_pushing(
    github: FakeGitHub, llm: FakeLLM, proposed: Path, env: dict[str, str]
) -> None:
    human = github.commit(
        {"CLAUDE.md": "# Rules\n\n- Edited by a maintainer.\n"},
        parent=github.refs[f"heads/{BRANCH}"],
        branch=BRANCH,
        message="tweak wording",
    )
    rerun(proposed, env, llm, other_reply)
    rerun(proposed, env, llm, other_reply)  # twice: still one comment
    assert github.refs[f"heads/{BRANCH}"] == human  # their work is untouched
    pull = bot_pull(github)
    comments = [c["body"] for c in pull.issue_comments]  # type: ignore[attr-defined]
    assert len(comments) == 1 and "will not force-push" in comments[0]


def test_a_candidate_equal_to_the_current_prompts_closes_the_pr_with_a_comment(
    github: FakeGitHub, llm: FakeLLM, proposed: Path, env: dict[str, str]
) -> None:
    def unchanged(request: dict[str, object]) -> str:
        return chat_adapter_reply(
            candidate_main_prompt=MAIN_PROMPT, candidate_subagents=[], analysis_summary="Nothing."
        )

    rerun(proposed, env, llm, unchanged)
    pull = bot_pull(github)
    assert pull.state == "closed"  # type: ignore[attr-defined]
    assert "no longer supports changing" in pull.issue_comments[0]["body"]  # type: ignore[attr-defined]
    assert github.files_at("main")[".claude/agents/test-runner.md"] == SUBAGENT


def test_a_user_template_is_rendered_in_the_sandbox(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    (ready / "pr.md.j2").write_text(
        "Custom body for {{ view.candidate.target }} ({{ view.samples | length }} samples).\n"
        "<!-- {{ state_marker }} {{ view.state_json }} -->\n"
    )
    config = ready / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "pull_request:\n  template: pr.md.j2\n")
    assert main(["run", "--pr", "7"], env=env) == 0
    assert bot_pull(github).body.startswith("Custom body for coder (1 samples).")  # type: ignore[attr-defined]


def test_a_template_reaching_python_internals_is_refused(
    github: FakeGitHub, ready: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    (ready / "evil.j2").write_text("{{ view.__class__.__init__.__globals__ }}\n")
    config = ready / ".github" / "prompt-trainer.yml"
    config.write_text(config.read_text() + "pull_request:\n  template: evil.j2\n")
    assert main(["run", "--pr", "7", "--dry-run"], env=env) == 2
    assert "pull_request.template" in capsys.readouterr().err


def test_a_candidate_to_be_drafted_opens_a_draft_pull_request(
    github: FakeGitHub, tmp_path: Path
) -> None:
    """An unreadable evaluation (or ``require_improvement: draft``) opens a draft, not a ready
    pull request."""
    from prompt_trainer.github import GitHubClient  # noqa: PLC0415
    from prompt_trainer.models import Candidate, PromptFile, TokenUsage  # noqa: PLC0415
    from prompt_trainer.propose import open_pull_request  # noqa: PLC0415
    from prompt_trainer.settings import Target  # noqa: PLC0415
    from prompt_trainer.targets import LocalSource, load_prompt_set  # noqa: PLC0415

    github.commit({"CLAUDE.md": MAIN_PROMPT}, branch="main")
    (tmp_path / "CLAUDE.md").write_text(MAIN_PROMPT)
    target = Target(name="coder", main="CLAUDE.md")
    version = load_prompt_set(target, LocalSource(tmp_path)).version
    candidate = Candidate(
        target="coder", base_version=version, analysis_summary="", usage=TokenUsage(),
        files=(PromptFile(path="CLAUDE.md", content=MAIN_PROMPT + "- Quantize money.\n"),),
        sample_ids=(),
    )  # fmt: skip
    client = GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)
    made = open_pull_request(
        client, candidate, title="prompt-trainer: coder", render=lambda sha: "body",
        labels=(), current_version=version, prompts=target, draft=True,
    )  # fmt: skip
    assert made.operation == "created" and made.draft
    assert bot_pull(github).draft  # type: ignore[attr-defined]
