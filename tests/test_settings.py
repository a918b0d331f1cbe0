"""Configuration: the contract keys load, every invalid config names key, value and fix, and
the committed JSON Schema matches the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompt_trainer.errors import ConfigError, MissingPromptError
from prompt_trainer.settings import Settings, config_schema, parse_config
from prompt_trainer.targets import check_prompt_files, missing_prompt_files

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema" / "prompt-trainer.schema.json"

CONTRACT = """\
model: openai/gpt-4.1
api_base: null
agent:
  authors: ["claude[bot]"]
  labels: ["agent"]
artifacts:
  junit: ["*junit*", "test-results*"]
  traces: ["*trace*", "claude-execution*"]
targets:
  - name: coder
    main: CLAUDE.md
    subagents: .claude/agents
    max_subagents: 5
pull_request:
  labels: ["prompt-trainer"]
"""


def test_contract_keys_load() -> None:
    config = parse_config(CONTRACT, source="cfg")
    assert config.model == "openai/gpt-4.1" and config.api_base is None
    assert config.agent.authors == ("claude[bot]",) and config.agent.labels == ("agent",)
    assert config.artifacts.traces == ("*trace*", "claude-execution*")
    assert config.targets[0].subagents == ".claude/agents" and config.targets[0].max_subagents == 5
    assert config.pull_request.labels == ("prompt-trainer",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "targets: [{name: coder, main: A.md}]\nmodle: x\n",
            ["modle", "unknown key", "`prompt-trainer schema` lists every key"],
        ),
        (
            "targets: [{name: coder, main: A.md, max_subagents: many}]\n",
            ["targets[0].max_subagents", "'many'"],
        ),
        (
            "targets: [{name: coder, main: A.md, max_subagents: -1}]\n",
            ["targets[0].max_subagents", "greater than or equal to 0"],
        ),
        ("targets: [{name: Coder X, main: A.md}]\n", ["targets[0].name", "lowercase"]),
        ("targets: [{name: a, main: A.md}, {name: a, main: B.md}]\n", ["targets", "unique"]),
        ("model: openai/x\n", ["targets", "required key is missing"]),
        ("targets: [{name: coder}]\n", ["targets[0].main", "required key is missing"]),
        ("agent: {authors: claude}\ntargets: [{name: c, main: A.md}]\n", ["agent.authors"]),
        ("targets: []\n", ["targets", "at least 1"]),
        ("- just\n- a list\n", ["must be a YAML mapping"]),
        ("targets: [\n", ["not valid YAML"]),
    ],
)
def test_invalid_config_names_the_key(text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="prompt-trainer.yml")
    message = caught.value.diagnostics()
    for fragment in expected:
        assert fragment in message


def test_missing_config_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(tmp_path / "nope.yml", {}, root=tmp_path)
    assert "--config" in caught.value.diagnostics()


def test_missing_prompt_file_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("targets: [{name: coder, main: CLAUDE.md}]\n")
    settings = Settings.load(config, {}, root=tmp_path)  # blocks only what reads the file
    with pytest.raises(MissingPromptError) as caught:
        check_prompt_files(settings.config, tmp_path)
    assert "targets[0].main" in caught.value.message and caught.value.exit_code == 2


def test_a_missing_prompt_file_is_told_per_target(tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("rules\n")
    config = tmp_path / "c.yml"
    config.write_text(
        "targets: [{name: coder, main: CLAUDE.md}, {name: agents, main: AGENTS.md}]\n"
    )
    settings = Settings.load(config, {}, root=tmp_path)
    missing = missing_prompt_files(settings.config, tmp_path)
    assert list(missing) == ["coder"] and "targets[0].main" in missing["coder"]
    check_prompt_files(settings.config, tmp_path, only="agents")


def test_environment_overrides_and_provider_key(checkout: Path) -> None:
    env = {
        "PROMPT_TRAINER_MODEL": "anthropic/claude-x",
        "ANTHROPIC_API_KEY": "k1",
        "OPENAI_API_KEY": "k2",
        "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
    }
    settings = Settings.load(checkout / ".github" / "prompt-trainer.yml", env, root=checkout)
    llm = settings.llm()
    assert llm.model == "anthropic/claude-x" and llm.api_key == "k1" and llm.available
    assert settings.llm(model="openai/gpt-4.1").api_key == "k2"  # the flag wins
    assert settings.env.github_api_url == "https://ghe.example.com/api/v3"
    no_key = Settings.load(checkout / ".github" / "prompt-trainer.yml", {}, root=checkout).llm()
    assert not no_key.available and no_key.key_var == "OPENAI_API_KEY"


def test_the_retry_backoff_comes_from_the_environment(checkout: Path) -> None:
    config = checkout / ".github" / "prompt-trainer.yml"
    default = Settings.load(config, {}, root=checkout)
    assert default.env.backoff_s == 0.5 and default.llm().backoff_s == 0.5
    none = Settings.load(config, {"PROMPT_TRAINER_BACKOFF_S": "0"}, root=checkout)
    assert none.env.backoff_s == 0 and none.llm().backoff_s == 0
    for bad in ("soon", "-1", "nan", "61"):
        with pytest.raises(ConfigError, match="PROMPT_TRAINER_BACKOFF_S") as info:
            Settings.load(config, {"PROMPT_TRAINER_BACKOFF_S": bad}, root=checkout)
        assert "0.5" in info.value.diagnostics()


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == config_schema(), "regenerate: prompt-trainer schema > " + str(SCHEMA_FILE)
