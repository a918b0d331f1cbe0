"""Names and titles written outside (test, class and suite names, PR titles) are redacted and
capped before they are stored, sent to the model or rendered: end to end against the local
GitHub and LM servers, and for a local evidence directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.redact import NAME_CHARS
from tests.scenarios import arrange, make_zip, trainer_reply
from tests.servers.github import Artifact, FakeGitHub
from tests.servers.llm import FakeLLM

CANARY = "ghp_" + "N4meCanary" * 4  # a GitHub token shape, 40 characters after the prefix
LONG = "test_" + "z" * 10_000
JUNIT = f"""<?xml version="1.0"?>
<testsuites>
  <testsuite name="suite-{CANARY}" tests="2" failures="2">
    <testcase classname="tests.{CANARY}" name="test_login[{CANARY}]">
      <failure message="assert False">trace</failure>
    </testcase>
    <testcase classname="tests.test_long" name="{LONG}">
      <failure message="assert False">trace</failure>
    </testcase>
  </testsuite>
</testsuites>
"""


def test_names_and_titles_are_redacted_and_capped_before_they_are_stored_or_sent(
    github: FakeGitHub,
    llm: FakeLLM,
    checkout: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arrange(github)
    pull = github.pulls[7]
    pull.title = f"Add late fees (token {CANARY}) " + "t" * 5_000
    github.runs.clear()
    github.add_run(
        pull.head_sha,
        [Artifact(id=github.next_id(), name="junit-results", data=make_zip({"j.xml": JUNIT}))],
    )
    monkeypatch.chdir(checkout)
    llm.script = [trainer_reply]

    assert main(["run", "--pr", "7"], env=env) == 0

    stored = (checkout / ".prompt-trainer" / "samples.jsonl").read_text()
    sent = json.dumps(llm.requests)
    bodies = "\n".join(p.body or "" for p in github.pulls.values())
    for text in (stored, sent, bodies):
        assert CANARY not in text and LONG not in text
    (sample,) = [json.loads(line) for line in stored.splitlines()]
    assert sample["pull"]["title"].startswith("Add late fees (token [REDACTED:github-token])")
    assert len(sample["pull"]["title"]) <= 300
    (run,) = sample["test_runs"]
    short, long = sorted((case["name"] for case in run["cases"]), key=len)
    assert short == "test_login[[REDACTED:github-token]]"
    assert len(long) == NAME_CHARS and long.startswith("test_zzz")
    assert run["suites"] == ["suite-[REDACTED:github-token]"]
    assert {case["classname"] for case in run["cases"]} == {
        "tests.[REDACTED:github-token]",
        "tests.test_long",
    }


def test_a_local_pr_json_title_is_redacted_and_capped(
    tmp_path: Path, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = checkout / "evidence" / "pr-1"
    evidence.mkdir(parents=True)
    (evidence / "pr.json").write_text(json.dumps({"number": 1, "title": CANARY + " " + "x" * 900}))
    (evidence / "junit.xml").write_text(JUNIT)
    monkeypatch.chdir(checkout)

    assert main(["run", "--local", "evidence"], env={}) == 0

    stored = (checkout / ".prompt-trainer" / "samples.jsonl").read_text()
    assert CANARY not in stored and LONG not in stored
    (sample,) = [json.loads(line) for line in stored.splitlines()]
    assert sample["pull"]["title"].startswith("[REDACTED:github-token] xxx")
    assert len(sample["pull"]["title"]) == 300
