"""Prompt targets: loading, frontmatter, versions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from prompt_trainer.errors import MissingPromptError, PromptLinkError
from prompt_trainer.settings import Target
from prompt_trainer.targets import (
    GitSource,
    LocalSource,
    load_prompt_set,
    parse_subagent,
    render_subagent,
    resolved_path,
)

TARGET = Target(name="coder", main="CLAUDE.md", subagents=".claude/agents")


def test_load_and_version(checkout: Path) -> None:
    prompts = load_prompt_set(TARGET, LocalSource(checkout))
    assert prompts.main.path == "CLAUDE.md"
    assert [s.name for s in prompts.subagents] == ["test-runner"]
    assert prompts.subagents[0].description == "Runs the tests."
    version = prompts.version
    (checkout / ".claude" / "agents" / "test-runner.md").write_text(
        "---\nname: test-runner\n---\nx\n"
    )
    assert load_prompt_set(TARGET, LocalSource(checkout)).version != version


def test_missing_main_file(tmp_path: Path) -> None:
    with pytest.raises(MissingPromptError):
        load_prompt_set(TARGET, LocalSource(tmp_path))
    assert load_prompt_set(TARGET, LocalSource(tmp_path), required=False).main.content == ""


def test_subagent_round_trip_keeps_extra_frontmatter() -> None:
    text = "---\nname: reviewer\ndescription: Reviews diffs.\ntools: Read, Grep\nmodel: sonnet\n---\n\nBe strict.\n"
    sub = parse_subagent(".claude/agents/reviewer.md", text)
    assert sub.frontmatter == {"tools": "Read, Grep", "model": "sonnet"}
    assert render_subagent(sub) == text


def test_invalid_frontmatter_stays_in_body() -> None:
    sub = parse_subagent("agents/x.md", "---\n: [bad\n---\nbody\n")
    assert sub.name == "x" and sub.prompt.startswith("---")


# -- prompt files as real repositories keep them ----------------------------------------------


def run_git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """A repository whose ``CLAUDE.md`` is a link to ``AGENTS.md``, with two commits of it."""
    root = tmp_path / "linked"
    root.mkdir()
    run_git(root, "init", "-q")
    (root / "AGENTS.md").write_text("Run the tests.\n")
    (root / "CLAUDE.md").symlink_to("AGENTS.md")
    run_git(root, "add", "-A")
    run_git(root, "commit", "-qm", "first")
    (root / "AGENTS.md").write_text("Run the tests twice.\n")
    run_git(root, "commit", "-qam", "second")
    return root


CLAUDE = Target(name="claude", main="CLAUDE.md")


def test_a_linked_prompt_reads_as_its_file_at_every_commit(linked: Path) -> None:
    old = GitSource(linked, run_git(linked, "rev-parse", "HEAD~1"))
    head = GitSource(linked, run_git(linked, "rev-parse", "HEAD"))
    assert old.read_text("CLAUDE.md") == "Run the tests.\n"
    assert head.read_text("./CLAUDE.md") == "Run the tests twice.\n"
    working = load_prompt_set(CLAUDE, LocalSource(linked))
    assert load_prompt_set(CLAUDE, head).version == working.version
    assert resolved_path(linked, "CLAUDE.md") == "AGENTS.md"


def test_a_link_that_leaves_the_repository_names_the_link(linked: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.md").write_text("secret\n")
    (linked / "CLAUDE.md").unlink()
    (linked / "CLAUDE.md").symlink_to("../outside.md")
    run_git(linked, "commit", "-qam", "escape")
    with pytest.raises(PromptLinkError, match=r"'CLAUDE.md'.*outside the repository"):
        GitSource(linked, run_git(linked, "rev-parse", "HEAD")).read_text("CLAUDE.md")
    with pytest.raises(PromptLinkError, match=r"'CLAUDE.md'.*outside the repository"):
        load_prompt_set(CLAUDE, LocalSource(linked))


def test_a_dangling_link_names_the_link_and_its_target(linked: Path) -> None:
    (linked / "AGENTS.md").unlink()
    run_git(linked, "commit", "-qam", "drop agents")
    with pytest.raises(PromptLinkError, match=r"'CLAUDE.md' points at 'AGENTS.md'"):
        GitSource(linked, run_git(linked, "rev-parse", "HEAD")).read_text("CLAUDE.md")
    with pytest.raises(PromptLinkError, match=r"'CLAUDE.md' points at 'AGENTS.md'"):
        LocalSource(linked).read_text("CLAUDE.md")


def test_a_linked_folder_of_subagents_is_listed_at_a_commit(linked: Path) -> None:
    (linked / "agents").mkdir()
    (linked / "agents" / "runner.md").write_text("---\nname: runner\n---\nRun.\n")
    (linked / ".claude").mkdir()
    (linked / ".claude" / "agents").symlink_to("../agents")
    run_git(linked, "add", "-A")
    run_git(linked, "commit", "-qm", "agents")
    target = Target(name="claude", main="CLAUDE.md", subagents=".claude/agents")
    at_head = load_prompt_set(target, GitSource(linked, run_git(linked, "rev-parse", "HEAD")))
    assert [s.name for s in at_head.subagents] == ["runner"]
    assert at_head.version == load_prompt_set(target, LocalSource(linked)).version
