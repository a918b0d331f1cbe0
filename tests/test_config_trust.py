"""What a pull request cannot steer: on PR and comment events the configuration is the default
branch's (compared with the blob read through the local GitHub server); commands run for the
user get no secrets; DSPy's disk cache unpickles no code; a resumed run reuses a candidate only
for the same training inputs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from diskcache import FanoutCache  # type: ignore[import-untyped]

from prompt_trainer import evaluate
from prompt_trainer.cli import main
from prompt_trainer.commandenv import command_environment
from prompt_trainer.errors import ConfigError
from prompt_trainer.loop.runs import training_inputs
from prompt_trainer.settings import (
    SENSITIVE_KEYS,
    ConfigFile,
    Settings,
    config_value,
    parse_config,
)
from prompt_trainer.targets import LocalSource, load_prompt_set
from tests.jobs import closed_pr_event, run_jobs
from tests.scenarios import CONFIG
from tests.servers.github import FakeGitHub, Fault
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply
from tests.test_faults import bot_pulls
from tests.test_review_loop import command_event, review_comment

JUNIT_ONE_PASS = (
    'printf \'<testsuite tests="1"><testcase name="a"/></testsuite>\' > "$PROMPT_TRAINER_JUNIT"'
)


def config_with(*, api_base: str, eval_command: str) -> str:
    """The checkout's CONFIG with an endpoint and an evaluation command."""
    training = f"training:\n  eval_command: {json.dumps(eval_command)}\n"
    return f"api_base: {api_base}\n" + CONFIG.replace("training:\n", training)


@pytest.fixture
def attacker() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    server.close()


def pr_event(
    tmp_path: Path, github_env: dict[str, str], event: str = "pull_request"
) -> dict[str, str]:
    return {
        **github_env,
        **closed_pr_event(tmp_path, event),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "OPENAI_API_KEY": "sk-test",  # the local LM servers ignore it
    }


def set_default_branch_config(github: FakeGitHub, text: str | None) -> None:
    github.commit(
        {".github/prompt-trainer.yml": text}, parent=github.refs["heads/main"], branch="main"
    )


# --- item 1: the default branch's configuration on PR events ------------------------------


def test_a_pr_event_runs_with_the_default_branch_config_not_the_checkouts(
    github: FakeGitHub,
    llm: FakeLLM,
    attacker: FakeLLM,
    ready: Path,
    github_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pwned, trusted_ran = tmp_path / "pwned", tmp_path / "trusted-ran"
    trusted = config_with(
        api_base=llm.api_base,
        eval_command=f"env > {trusted_ran}; {JUNIT_ONE_PASS}",
    )
    set_default_branch_config(github, trusted)
    # The checkout is the PR's merge ref: its config was written by the pull request.
    (ready / ".github" / "prompt-trainer.yml").write_text(
        config_with(api_base=attacker.api_base, eval_command=f"touch {pwned}; {JUNIT_ONE_PASS}")
    )
    # The configuration names a command: the workflow runs prepare, evaluate and publish.
    event = pr_event(tmp_path, github_env)
    event = {k: v for k, v in event.items() if k.startswith("GITHUB_EVENT")}
    code, _ = run_jobs(github, llm, tmp_path, event)
    assert code == 0
    assert not pwned.exists()  # the PR's eval_command never ran
    assert not attacker.requests  # and nothing (no key) went to the PR's api_base
    assert llm.requests and trusted_ran.exists()  # the default branch's settings were used
    assert len(bot_pulls(github)) == 1
    # The trusted command itself got no token and no key.
    seen = trusted_ran.read_text()
    assert "GITHUB_TOKEN=" not in seen and "OPENAI_API_KEY=" not in seen
    assert "PROMPT_TRAINER_PROMPTS_DIR=" in seen
    said = "is not the default branch's: this pull_request run uses the configuration of main"
    summary = (tmp_path / "prepare.md").read_text()
    assert said in summary and "api_base, training.eval_command" in summary
    assert said in capsys.readouterr().err


def test_run_on_a_pr_event_also_uses_the_default_branch_config(
    github: FakeGitHub,
    llm: FakeLLM,
    attacker: FakeLLM,
    ready: Path,
    github_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The Action's ``pr`` input runs ``prompt-trainer run``: the same check applies."""
    pwned = tmp_path / "pwned"
    set_default_branch_config(github, f"api_base: {llm.api_base}\n{CONFIG}")
    (ready / ".github" / "prompt-trainer.yml").write_text(
        config_with(api_base=attacker.api_base, eval_command=f"touch {pwned}; {JUNIT_ONE_PASS}")
    )
    env = pr_event(tmp_path, github_env)
    assert main(["run", "--pr", "7"], env=env) == 0
    assert not pwned.exists() and not attacker.requests
    assert llm.requests and len(bot_pulls(github)) == 1
    assert "uses the configuration of main" in (tmp_path / "summary.md").read_text()


def test_the_checkouts_config_counts_when_it_is_the_default_branchs(
    github: FakeGitHub,
    llm: FakeLLM,
    ready: Path,
    github_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = f"api_base: {llm.api_base}\n{CONFIG}"
    set_default_branch_config(github, text)
    (ready / ".github" / "prompt-trainer.yml").write_text(text)
    assert main(["action"], env=pr_event(tmp_path, github_env)) == 0
    assert llm.requests  # the checkout's api_base, which is the default branch's
    assert "prompt-trainer.yml is the default branch's (main)" in capsys.readouterr().err
    assert "not the default branch's" not in (tmp_path / "summary.md").read_text()


def test_without_a_config_on_the_default_branch_a_pr_event_does_nothing_and_says_why(
    github: FakeGitHub,
    llm: FakeLLM,
    ready: Path,
    github_env: dict[str, str],
    tmp_path: Path,
) -> None:
    set_default_branch_config(github, None)
    output = tmp_path / "output"
    env = {**pr_event(tmp_path, github_env), "GITHUB_OUTPUT": str(output)}
    env["PROMPT_TRAINER_API_BASE"] = llm.api_base
    assert main(["action"], env=env) == 0
    assert not llm.requests and not bot_pulls(github)
    assert "prompt-trainer-data" not in {r.removeprefix("heads/") for r in github.refs}
    summary = (tmp_path / "summary.md").read_text()
    assert "nothing done: the default branch main has no .github/prompt-trainer.yml" in summary
    assert "operation=none" in output.read_text()


def test_other_events_read_no_config_through_the_api(
    github: FakeGitHub, ready: Path, github_env: dict[str, str], tmp_path: Path
) -> None:
    env = pr_event(tmp_path, github_env, "push")
    assert main(["action"], env=env) == 0
    assert not [r for r in github.requests if "/contents/.github" in r.path]


def test_every_sensitive_key_names_a_setting() -> None:
    config = ConfigFile.model_validate({"targets": [{"name": "coder", "main": "CLAUDE.md"}]})
    for key in SENSITIVE_KEYS:
        config_value(config, key)  # raises AttributeError for a key that does not exist
    assert {"training.eval_command", "api_base", "model", "reviews.trusted_associations"} <= set(
        SENSITIVE_KEYS
    )


# --- item 2: commands run for the user get no secrets ------------------------------------


SECRETS = {
    "GITHUB_TOKEN": "ghs_x",
    "GH_TOKEN": "ghp_x",
    "OPENAI_API_KEY": "sk-x",
    "ANTHROPIC_API_KEY": "sk-ant-x",
    "ACTIONS_RUNTIME_TOKEN": "x",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x",
    "NPM_TOKEN": "x",
    "DEPLOY_SECRET": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    # Secrets whose names a deny-list of shapes lets through (issue 24): only an allow-list
    # keeps them out.
    "GH_PAT": "ghp_pat",
    "PGPASSWORD": "pg-secret",
    "FOO_APIKEY": "foo-secret",
    "DATABASE_URL": "postgres://u:p@db/x",
}
#: Runner variables that hold no secret: every command gets them.
RUNNER = {
    "CI": "true",
    "GITHUB_WORKSPACE": "/w",
    "GITHUB_SHA": "abc",
    "RUNNER_OS": "Linux",
    "RUNNER_TEMP": "/t",
    "LC_ALL": "C.UTF-8",
}


def test_eval_command_gets_only_the_allow_listed_environment_and_eval_pass_env(
    checkout: Path, tmp_path: Path
) -> None:
    config = checkout / ".github" / "prompt-trainer.yml"
    config.write_text(
        CONFIG.replace("training:\n", "training:\n  eval_pass_env: [ANTHROPIC_API_KEY]\n")
    )
    plain = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PLAIN": "dropped"}
    settings = Settings.load(config, {**plain, **RUNNER, **SECRETS}, root=checkout)
    current = load_prompt_set(settings.config.targets[0], LocalSource(checkout))
    candidate = _candidate(current)
    dump = tmp_path / "env.txt"
    result = evaluate.run_eval_command(
        f"env > {dump}; {JUNIT_ONE_PASS}",
        current,
        candidate,
        root=checkout,
        timeout_s=60,
        max_report_bytes=1_000_000,
        # The filter itself: on this runner Settings.command_env refuses outright, since the
        # process holds secrets (tests/test_command_gate.py); off a runner it is this filter.
        env=command_environment(settings.env, passed=settings.config.training.eval_pass_env),
    )
    assert result.problem is None and result.current_pass_rate == 1.0
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert seen["HOME"] == str(tmp_path) and "PLAIN" not in seen
    assert {k: seen[k] for k in RUNNER} == RUNNER
    assert seen["ANTHROPIC_API_KEY"] == "sk-ant-x"  # named in training.eval_pass_env
    assert not {k for k in SECRETS if k != "ANTHROPIC_API_KEY"} & set(seen)
    values = dump.read_text()
    for name in ("GH_PAT", "PGPASSWORD", "FOO_APIKEY", "DATABASE_URL"):
        assert SECRETS[name] not in values, name


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN"])
def test_eval_pass_env_cannot_pass_the_token_or_the_runners_credentials(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"{name} is never passed to a command"):
        parse_config(
            CONFIG.replace("training:\n", f"training:\n  eval_pass_env: [{name}]\n"), source="x"
        )


def test_eval_pass_env_takes_variable_names_only() -> None:
    with pytest.raises(ConfigError, match=r"training\.eval_pass_env"):
        parse_config(
            CONFIG.replace("training:\n", "training:\n  eval_pass_env: ['A=B']\n"), source="x"
        )


def _candidate(current: Any) -> Any:
    from prompt_trainer.models import Candidate, TokenUsage  # noqa: PLC0415

    return Candidate(
        target=current.target,
        base_version=current.version,
        files=current.files,
        analysis_summary="",
        usage=TokenUsage(),
        sample_ids=(),
    )


# --- item 3: DSPy's disk cache unpickles no code -------------------------------------------


class Planted:
    """A cache entry that, unpickled without restriction, creates a file (runs code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_planted_pickle_in_the_cache_is_not_executed(
    llm: FakeLLM, ready: Path, env: dict[str, str], tmp_path: Path
) -> None:
    assert main(["run", "--pr", "7"], env=env) == 0
    assert len(llm.requests) == 2  # the rewrite and the check of its edits
    cache_dir = ready / ".prompt-trainer" / "cache"
    marker = tmp_path / "code-ran"
    cache = FanoutCache(str(cache_dir), shards=16)  # the layout DSPy opens
    keys = list(cache)
    assert keys
    for key in keys:
        cache.set(key, Planted(marker))
    cache.close()
    code = main(["run", "--pr", "7"], env=env)
    assert not marker.exists()  # unpickled without restriction, the entry creates it
    assert code == 0
    assert len(llm.requests) == 4  # the planted entries were dropped and the calls made again


# --- item 4: a resumed run reuses a candidate only for the same inputs ----------------------


@pytest.mark.parametrize("change", ["model", "api_base"])
def test_a_resumed_run_trains_afresh_when_the_model_or_endpoint_changed(
    github: FakeGitHub,
    llm: FakeLLM,
    attacker: FakeLLM,
    ready: Path,
    env: dict[str, str],
    change: str,
) -> None:
    github.faults.append(Fault("POST", r"/pulls", 400, times=99, message="stopped here"))
    assert main(["run", "--pr", "7"], env=env) == 3
    github.faults.clear()
    shutil.rmtree(ready / ".prompt-trainer" / "cache")  # DSPy's cache would answer otherwise
    calls = len(llm.requests)
    if change == "model":
        flags, server = ["--model", "openai/another-model"], llm
    else:
        attacker.script = llm.script
        flags, server = ["--api-base", attacker.api_base], attacker
    assert main(["run", "--pr", "7", *flags], env=env) == 0
    (run,) = (ready / ".prompt-trainer" / "runs").iterdir()
    assert json.loads((run / "status.json").read_text())["resumed"] == 1
    assert len(server.requests) > (calls if server is llm else 0)  # trained again
    if change == "model":
        assert server.requests[-1]["model"] == "another-model"


def test_the_training_inputs_hash_covers_sample_content_options_and_strategy(
    checkout: Path,
) -> None:
    from prompt_trainer.models import PullRequestInfo, Sample  # noqa: PLC0415
    from prompt_trainer.settings import LLMSettings, TrainingOptions  # noqa: PLC0415

    settings = Settings.load(checkout / ".github" / "prompt-trainer.yml", {}, root=checkout)
    target = settings.config.targets[0]
    current = load_prompt_set(target, LocalSource(checkout))
    sample = Sample(
        id="o/r#7",
        pull=PullRequestInfo(number=7, title="Fees"),
        collected_at=datetime(2026, 11, 21, tzinfo=UTC),
    )
    llm = LLMSettings(model="openai/m", api_base="http://127.0.0.1:1")
    options = TrainingOptions()

    def key(**change: Any) -> str:
        args: dict[str, Any] = {
            "samples": [sample],
            "llm": llm,
            "strategy": "evolve",
            "target": target,
            "options": options,
        } | change
        return training_inputs(current, args.pop("samples"), **args)

    same = key()
    assert key() == same
    edited = sample.model_copy(update={"pull": PullRequestInfo(number=7, title="Fees v2")})
    assert key(samples=[edited]) != same  # same id, other content
    assert key(strategy="rules") != same
    assert key(options=TrainingOptions(max_calls=3)) != same
    assert key(llm=llm.model_copy(update={"api_key": "sk-other"})) == same  # never the key
    assert "sk-" not in same


def test_respond_on_a_comment_event_uses_the_default_branch_config_too(
    github: FakeGitHub,
    llm: FakeLLM,
    attacker: FakeLLM,
    ready: Path,
    env: dict[str, str],
    github_env: dict[str, str],
    tmp_path: Path,
) -> None:
    assert main(["run", "--pr", "7"], env=env) == 0
    (bot_pr,) = bot_pulls(github)
    checkout = ready
    set_default_branch_config(github, f"api_base: {llm.api_base}\n{CONFIG}")
    (checkout / ".github" / "prompt-trainer.yml").write_text(
        f"api_base: {attacker.api_base}\n{CONFIG}"
    )
    review_comment(github, bot_pr, "Say how to round money.", association="MEMBER")
    llm.script = [by_signature(replies=lambda _: chat_adapter_reply(edits=[], replies=[]))]
    before = len(llm.requests)
    event = command_event(tmp_path, bot_pr, "/prompt-trainer revise")
    env = {
        **github_env,
        **event,
        "OPENAI_API_KEY": "sk-test",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    assert main(["respond"], env=env) == 0
    assert not attacker.requests and len(llm.requests) > before
    summary = (tmp_path / "summary.md").read_text()
    assert (
        "this issue_comment run uses the configuration of main; ignored from the checkout: "
        "api_base" in summary
    )


# --- a checkout's config that is a link, or an alias bomb (issue 24) ----------------------


def test_a_symlinked_config_pointing_at_a_default_branch_fixture_is_refused(
    github: FakeGitHub,
    llm: FakeLLM,
    attacker: FakeLLM,
    ready: Path,
    github_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The default branch holds a fixture config (say, a test's) that runs a command and talks
    to another endpoint. A pull request makes ``.github/prompt-trainer.yml`` a link to it: the
    checkout's bytes then equal the fixture's blob, which the API reads at the link's target."""
    pwned = tmp_path / "pwned"
    fixture = config_with(api_base=attacker.api_base, eval_command=f"touch {pwned}")
    github.commit(
        {".github/prompt-trainer.yml": f"api_base: {llm.api_base}\n{CONFIG}",
         "tests/fixtures/evil.yml": fixture},
        parent=github.refs["heads/main"], branch="main",
    )  # fmt: skip
    (ready / "tests" / "fixtures").mkdir(parents=True)
    (ready / "tests" / "fixtures" / "evil.yml").write_text(fixture)
    config = ready / ".github" / "prompt-trainer.yml"
    config.unlink()
    config.symlink_to(Path("..") / "tests" / "fixtures" / "evil.yml")
    env = pr_event(tmp_path, github_env)
    assert main(["action"], env=env) == 0
    assert not pwned.exists() and not attacker.requests
    assert llm.requests and len(bot_pulls(github)) == 1
    assert not [r for r in github.requests if "/contents/tests/fixtures" in r.path]
    summary = (tmp_path / "summary.md").read_text()
    assert ".github/prompt-trainer.yml is a symbolic link" in summary
    assert "uses the configuration of main" in summary


def alias_bomb(levels: int) -> str:
    """A YAML document whose aliases expand to 9^levels strings."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join(lines) + f"\nagent: {{authors: *l{levels - 1}}}\n"


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    with pytest.raises(ConfigError, match=r"expands to more than 20,000 nodes"):
        parse_config(alias_bomb(9), source="bomb.yml")


def test_an_alias_bomb_in_the_checkout_does_not_stop_a_pr_event_run(
    github: FakeGitHub,
    llm: FakeLLM,
    ready: Path,
    github_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """On a pull-request event the default branch's config is read first; the checkout's alias
    bomb is only compared byte for byte (and refused when parsed for the notice)."""
    set_default_branch_config(github, f"api_base: {llm.api_base}\n{CONFIG}")
    (ready / ".github" / "prompt-trainer.yml").write_text(alias_bomb(9))
    env = pr_event(tmp_path, github_env)
    assert main(["action"], env=env) == 0
    assert llm.requests and len(bot_pulls(github)) == 1
    assert "uses the configuration of main" in (tmp_path / "summary.md").read_text()
