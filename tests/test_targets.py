"""Prompt targets: loading, frontmatter, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompt_trainer.errors import MissingPromptError
from prompt_trainer.settings import Target
from prompt_trainer.targets import LocalSource, load_prompt_set, parse_subagent, render_subagent

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
