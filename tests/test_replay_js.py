"""Replay on the JavaScript fixture (tests/data/js/vitest-app): `replay.setup_command` runs once
per fresh worktree, after the checkout's `node_modules` is hard-linked in when the lockfile is the
same (never its tool caches), and not when the task's commit has another lockfile. The agent is
a deterministic script that fixes `slugify` only when AGENTS.md asks for word boundaries; the
test command stands in for `vitest run`: it needs `node_modules/vitest` and hands over the
report the real Vitest wrote for that source (tests/data/js/reports/vitest)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prompt_trainer import replay
from prompt_trainer.models import PromptFile, PullRequestInfo, Sample
from prompt_trainer.settings import Settings
from prompt_trainer.targets import LocalSource, load_prompt_set

DATA = Path(__file__).parent / "data" / "js"
RULE = "- Cut long slugs at a word boundary, never inside a word.\n"
AGENT = """import os, pathlib, shutil
rules = pathlib.Path("AGENTS.md").read_text()
if "word boundary" in rules:
    shutil.copyfile(os.environ["FIXED_SLUG"], "src/slug.js")
"""
VITEST = """import os, pathlib, shutil, sys
module = pathlib.Path("node_modules/vitest/package.json")
if not module.is_file():
    sys.exit("sh: 1: vitest: not found")
print("vitest inode", module.stat().st_ino)
print("cache carried over:", pathlib.Path("node_modules/.vite").exists())
fixed = pathlib.Path("src/slug.js").read_text() == pathlib.Path(os.environ["FIXED_SLUG"]).read_text()
name = "passing.xml" if fixed else "failing.xml"
shutil.copyfile(pathlib.Path(os.environ["REPORTS"]) / name, os.environ["PROMPT_TRAINER_JUNIT"])
"""
#: Stands in for `npm ci`: says it ran, and installs vitest.
SETUP = (
    'echo "reused: $PROMPT_TRAINER_REUSED"; test -d node_modules || '
    "{ echo installing; mkdir -p node_modules/vitest; echo '{}' > node_modules/vitest/package.json; }"
)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def make_repo(tmp_path: Path, *, setup: str = SETUP) -> Path:
    repo = tmp_path / "slugkit"
    shutil.copytree(DATA / "vitest-app", repo)
    python = shlex.quote(sys.executable)
    for name, text in (("agent.py", AGENT), ("vitest.py", VITEST)):
        (tmp_path / name).write_text(text)
    config = {
        "targets": [{"name": "agents", "main": "AGENTS.md"}],
        "store": {"branch": None},
        "training": {"holdout": 0.5, "eval_pass_env": ["FIXED_SLUG", "REPORTS"]},
        "replay": {
            "setup_command": setup,
            "agent_command": f"{python} {shlex.quote(str(tmp_path / 'agent.py'))}",
            "test_command": f"{python} {shlex.quote(str(tmp_path / 'vitest.py'))}",
            "timeout_s": 120,
        },
    }
    (repo / ".github" / "prompt-trainer.yml").write_text(json.dumps(config))
    (repo / ".gitignore").write_text("node_modules/\n.prompt-trainer/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    # The checkout has run `npm ci`: vitest, a bin link and Vite's cache, untracked.
    modules = repo / "node_modules"
    (modules / "vitest").mkdir(parents=True)
    (modules / "vitest" / "package.json").write_text('{"name": "vitest", "version": "3.2.7"}\n')
    (modules / ".bin").mkdir()
    os.symlink("../vitest/package.json", modules / ".bin" / "vitest")
    (modules / ".vite" / "vitest").mkdir(parents=True)
    (modules / ".vite" / "vitest" / "results.json").write_text("{}")
    return repo


def run(repo: Path, *, base: str = "HEAD", env: dict[str, str] | None = None) -> dict[str, Any]:
    settings = Settings.load(repo / ".github" / "prompt-trainer.yml", {
        "PATH": os.environ["PATH"], "FIXED_SLUG": str(DATA / "reports/vitest/slug.fixed.js"),
        "REPORTS": str(DATA / "reports/vitest"), **(env or {}),
    }, root=repo)  # fmt: skip
    target = settings.target("agents")
    version = load_prompt_set(target, LocalSource(repo)).version
    sha = git(repo, "rev-parse", base).strip()
    sample = Sample(
        id="acme/slugkit#12",
        pull=PullRequestInfo(number=12, title="Cut slugs at words", base_sha=sha,
                             body="slugify(maxLength) cuts inside words.",
                             closed_at=datetime(2026, 11, 2, tzinfo=UTC)),
        prompt_versions={"agents": version},
        collected_at=datetime(2026, 11, 2, tzinfo=UTC),
    )  # fmt: skip
    agents = (repo / "AGENTS.md").read_text()
    candidate = (PromptFile(path="AGENTS.md", content=agents + RULE),)
    result = replay.replay(settings, target, candidate, [sample], log=lambda _: None)
    return replay.to_json(result)


def logs(outcome: dict[str, Any], variant: str, name: str) -> str:
    (task,) = outcome["tasks"]
    (found,) = [r for r in task["runs"] if r["variant"] == variant]
    return (Path(found["folder"]) / name).read_text()


def test_the_checkouts_node_modules_is_linked_into_each_worktree_and_setup_runs_once(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path)
    outcome = run(repo)
    assert outcome["variants"] == {
        "current": {"runs": 1, "passed": 0},  # the real failing Vitest report
        "candidate": {"runs": 1, "passed": 1},  # the rule made the agent fix slugify
    }
    inode = (repo / "node_modules" / "vitest" / "package.json").stat().st_ino
    for variant in ("current", "candidate"):
        setup = logs(outcome, variant, "setup.log")
        assert setup == "prompt-trainer: reused node_modules\nreused: node_modules\n"
        tests = logs(outcome, variant, "tests.log")
        assert f"vitest inode {inode}\n" in tests  # a hard link, not a copy or an install
        assert "cache carried over: False" in tests  # .vite is left out
    assert (repo / "node_modules" / ".vite" / "vitest" / "results.json").read_text() == "{}"
    assert git(repo, "status", "--porcelain").strip() == ""  # only ignored folders were used


def test_a_task_from_before_a_lockfile_change_installs_instead(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    lock = repo / "package-lock.json"
    lock.write_text(lock.read_text().replace('"version": "1.4.0"', '"version": "1.5.0"', 1))
    git(repo, "commit", "-qam", "release 1.5.0")
    outcome = run(repo, base="HEAD~1")
    setup = logs(outcome, "current", "setup.log")
    assert setup == (
        "prompt-trainer: node_modules not reused: the lockfile differs from the checkout's "
        "(package-lock.json)\nreused: \ninstalling\n"
    )
    assert outcome["variants"]["candidate"]["passed"] == 1


def test_a_failing_setup_is_the_runs_failure_with_its_output(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, setup="echo 'npm ERR! network unreachable'; exit 7")
    outcome = run(repo)
    (task,) = outcome["tasks"]
    reasons = {r["reason"] for r in task["runs"]}
    assert reasons == {"setup: exited 7: npm ERR! network unreachable"}
    assert "agent.log" not in os.listdir(task["runs"][0]["folder"])  # the agent never ran


def test_setup_gets_the_commands_environment_and_a_hook_it_writes_never_runs(
    tmp_path: Path,
) -> None:
    """setup_command runs as the agent and the tests do (``commandenv``): HOME and PATH for the
    package manager's cache, the names training.eval_pass_env lists, never the token or a
    secret the workflow maps; git (``gitcmd.run_git``) runs no hook it leaves in the shared
    .git for the next worktree."""
    ran = tmp_path / "hook-ran"
    hook = f"#!/bin/sh\ntouch {shlex.quote(str(ran))}\n"
    setup = (
        'echo "home=$HOME token=${GITHUB_TOKEN:-none} pat=${GH_PAT:-none} '
        'reports=${REPORTS:+set}"; hooks="$(git rev-parse --git-common-dir)/hooks"; '
        f'mkdir -p "$hooks"; printf {shlex.quote(hook)} > "$hooks/post-checkout"; '
        f'chmod +x "$hooks/post-checkout"; {SETUP}'
    )
    repo = make_repo(tmp_path, setup=setup)
    home = str(tmp_path / "home")
    secrets = {"HOME": home, "GITHUB_TOKEN": "ghs_" + "a" * 36, "GH_PAT": "ghp_" + "b" * 36}
    outcome = run(repo, env=secrets)
    for variant in ("current", "candidate"):
        said = logs(outcome, variant, "setup.log")
        assert f"home={home} token=none pat=none reports=set\n" in said
    assert (repo / ".git" / "hooks" / "post-checkout").is_file()  # written, and never run
    assert not ran.exists()
    assert outcome["variants"]["candidate"]["passed"] == 1
