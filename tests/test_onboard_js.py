"""`init` and `doctor` on JavaScript repositories: the fixtures in tests/data/js (a real
package.json, lockfile and suites, with the JUnit XML the real Vitest, Jest, Mocha, node and bun
wrote when run with the command `init` suggests), and the runner behind each way of running a
package script: flags through the script where they reach the runner, else its config or a
script of its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prompt_trainer.cli import main
from prompt_trainer.collect.junit import parse_report
from prompt_trainer.models import TestRun
from prompt_trainer.settings import Settings
from prompt_trainer.setup.javascript import JsPlan, junit_command, plan_line
from tests.servers.github import FakeGitHub, Fault, Pull

DATA = Path(__file__).parent / "data" / "js"
VITEST_FLAGS = (
    "--reporter=default --reporter=github-actions --reporter=junit --outputFile.junit=junit.xml"
)


def git(repo: Path, *args: str, author: str = "Dev <dev@example.com>") -> str:
    name, email = author[: author.index("<")].strip(), author[author.index("<") + 1 : -1]
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
           "GIT_COMMITTER_EMAIL": email, "HOME": str(repo), "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout


def fixture_repo(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git clone of a fixture, as the working directory."""
    repo = tmp_path / name
    shutil.copytree(DATA / name, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    monkeypatch.chdir(repo)
    return repo


def apply(repo: Path, diff: str) -> None:
    subprocess.run(["git", "-C", str(repo), "apply", "-"], input=diff, text=True, check=True)


def valid_workflows(repo: Path) -> None:
    """The workflows still validate against GitHub's schema (check-jsonschema, offline)."""
    tool = Path(sys.executable).parent / "check-jsonschema"
    if not tool.exists():
        pytest.skip("check-jsonschema is not installed")
    files = sorted(str(p) for p in (repo / ".github" / "workflows").glob("*.yml"))
    subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", *files],
        check=True,
        capture_output=True,
    )


def statuses(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    assert main(["doctor", "--offline", "--json"], env={}) == 0
    return {c["name"]: c for c in map(json.loads, capsys.readouterr().out.splitlines())}


def report(path: Path) -> TestRun:
    run = parse_report(path, source=path.name, max_bytes=10**7, max_text=200)
    assert isinstance(run, TestRun)
    return run


def test_init_on_a_vitest_repository_sends_the_junit_flags_through_npm_run_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fixture_repo(tmp_path, "vitest-app", monkeypatch)
    (repo / "AGENTS.md").write_text((repo / "AGENTS.md").read_text() + "- Small commits.\n")
    git(repo, "commit", "-qam", "Small commits (#3)", author="Copilot <198982749+Copilot@users.noreply.github.com>")  # fmt: skip
    git(repo, "commit", "-q", "--allow-empty", "-m", "Bump vitest",
        author="dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>")  # fmt: skip
    assert main(["init", "--offline", "--action-ref", "acme/prompt-trainer@v1"], env={}) == 0
    out, err = capsys.readouterr()
    assert "- run: npm run test\n" in out
    assert f"+      - run: npm run test -- {VITEST_FLAGS}\n" in out
    assert "found custom agents in .github/agents/: 1, path instructions: 1: target copilot" in err
    # The suggestion is the command that wrote the committed report (npm echoes what it ran).
    summary = (DATA / "reports" / "vitest" / "failing.summary.txt").read_text()
    assert f"> vitest run {VITEST_FLAGS}\n" in summary
    failing = report(DATA / "reports" / "vitest" / "failing.xml")
    assert failing.counts() == {
        "tests": 6, "passed": 4, "failed": 1, "errors": 0, "skipped": 1, "flaky": 0
    }  # fmt: skip
    assert failing.cases[0].id == "src/slug.test.js::slugify > cuts long slugs at a word boundary"

    settings = Settings.load(repo / ".github" / "prompt-trainer.yml", {}, root=repo)
    targets = {t.name: (t.main, t.subagents, t.files) for t in settings.config.targets}
    assert targets == {
        "agents": ("AGENTS.md", None, ()),
        "copilot": (
            ".github/agents/reviewer.agent.md",
            ".github/agents",
            (".github/instructions/tests.instructions.md",),
        ),
    }
    assert settings.config.agent.authors == ("Copilot", "copilot-swe-agent[bot]")
    config = (repo / ".github" / "prompt-trainer.yml").read_text()
    assert "# Left out (not coding agents): dependabot[bot] (1)." in config
    assert "python -m pytest" not in config
    assert (
        "#   test_command: npm test -- --reporter=default --reporter=junit "
        '--outputFile.junit="$PROMPT_TRAINER_JUNIT"' in config
    )
    assert "#   setup_command: test -d node_modules || npm ci --prefer-offline" in config

    before = statuses(capsys)
    assert before["uploads: junit"]["status"] == "warn"
    assert (
        "`npm run test` -> `npm run test -- --reporter=default" in before["uploads: junit"]["fix"]
    )
    assert before["uploads: traces"]["status"] == "skipped"  # Copilot runs no workflow step
    apply(repo, out)
    valid_workflows(repo)
    after = statuses(capsys)
    assert after["uploads: junit"] == {
        "name": "uploads: junit",
        "status": "ok",
        "detail": "uploaded by .github/workflows/ci.yml (test: junit-results)",
        "fix": "",
    }
    ci = yaml.safe_load((repo / ".github" / "workflows" / "ci.yml").read_text())
    assert ci["jobs"]["test"]["steps"][-1]["with"]["path"] == "junit.xml"


def test_init_on_a_jest_repository_with_a_matrix_and_claude_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fixture_repo(tmp_path, "jest-app", monkeypatch)
    assert main(["init", "--offline", "--action-ref", "acme/prompt-trainer@v1"], env={}) == 0
    out, err = capsys.readouterr()
    assert (
        "+      - run: JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true npm test -- --reporters=default "
        "--reporters=jest-junit\n" in out
    )
    assert (
        "> jest --reporters=default --reporters=jest-junit\n"
        in (DATA / "reports" / "jest" / "summary.txt").read_text()
    )
    assert "name: junit-results-${{ strategy.job-index }}" in out  # one per matrix entry
    assert "+        id: claude\n" in out
    assert "jest-junit" not in err  # it is a devDependency already: no install note
    settings = Settings.load(repo / ".github" / "prompt-trainer.yml", {}, root=repo)
    (target,) = settings.config.targets
    assert (target.main, target.files) == (
        "CLAUDE.md",
        (
            ".claude/skills/release-notes/SKILL.md",
            ".claude/skills/release-notes/format.md",  # SKILL.md links it
            "src/legacy/CLAUDE.md",
        ),
    )
    assert settings.config.agent.authors == ("claude[bot]",)  # claude-code-action runs
    before = statuses(capsys)
    assert before["uploads: traces"]["status"] == "warn"
    # package.json names jest-junit, nothing turns reportTestSuiteErrors on yet
    assert before["jest-junit: suite errors"]["status"] == "warn"
    assert "JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true" in before["jest-junit: suite errors"]["fix"]
    apply(repo, out)
    valid_workflows(repo)
    checks = statuses(capsys)
    assert (checks["uploads: junit"]["status"], checks["uploads: traces"]["status"]) == (
        "ok",
        "ok",
    )
    assert checks["jest-junit: suite errors"]["status"] == "ok"
    jest = report(DATA / "reports" / "jest" / "junit.xml").counts()
    assert (jest["tests"], jest["failed"], jest["skipped"]) == (7, 2, 1)


def test_init_names_the_agents_from_the_pull_requests_github_lists(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    github: FakeGitHub,
    github_env: dict[str, str],
) -> None:
    fixture_repo(tmp_path, "vitest-app", monkeypatch)
    for number, author in enumerate(
        ["Copilot", "Copilot", "maria", "renovate[bot]", "acme-helper[bot]"], start=1
    ):
        github.add_pull(Pull(number, "t", f"b{number}", "h", "main", "b", author=author))
    assert main(["init", "--dry-run"], env=github_env) == 0
    out, err = capsys.readouterr()
    assert "agent.authors Copilot, copilot-swe-agent[bot] (from the last 100 pull requests)" in err
    assert '  authors: ["Copilot", "copilot-swe-agent[bot]"]' in out
    assert "# Left out (not coding agents): renovate[bot] (1)." in out
    assert "# Other bots that opened PRs: acme-helper[bot] (1): add an agent's." in out


def test_when_github_refuses_the_listing_init_reads_the_history_instead(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    github: FakeGitHub,
    github_env: dict[str, str],
) -> None:
    repo = fixture_repo(tmp_path, "vitest-app", monkeypatch)
    git(repo, "commit", "-q", "--allow-empty", "-m", "Fix slugs (#4)",
        author="claude[bot] <209825114+claude[bot]@users.noreply.github.com>")  # fmt: skip
    github.faults.append(Fault("GET", r"/pulls$", 403, times=99, message="Resource not accessible"))
    assert main(["init", "--dry-run"], env=github_env) == 0
    out, err = capsys.readouterr()
    assert "could not list octo-org/agent-repo's pull requests" in err
    assert "reading the git history instead" in err
    assert '  authors: ["claude[bot]"]' in out
    assert "# agent.authors: from the authors of the last 2 commits." in out


def test_with_no_agent_in_the_history_the_default_says_it_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fixture_repo(tmp_path, "vitest-app", monkeypatch)
    assert main(["init", "--dry-run", "--offline"], env={}) == 0
    out = capsys.readouterr().out
    assert "# agent.authors: from a default: no agent PR or commit was found." in out


# --- the runner behind each way of running a package script ---------------------------------


def package(root: Path, scripts: dict[str, str], **more: object) -> Path:
    data = {"name": "p", "version": "1.0.0", "scripts": scripts, **more}
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps(data, indent=2) + "\n")
    return root


def planned(root: Path, line: str, folder: str = "") -> JsPlan:
    plan = plan_line(root, line, folder)
    assert isinstance(plan, JsPlan), plan
    return plan


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("npm test", f"npm test -- {VITEST_FLAGS}"),
        ("npm t", f"npm t -- {VITEST_FLAGS}"),
        ("npm run test", f"npm run test -- {VITEST_FLAGS}"),
        ("npm test -- --coverage", f"npm test -- --coverage {VITEST_FLAGS}"),
        ("npm ci && npm test && echo done", f"npm ci && npm test -- {VITEST_FLAGS} && echo done"),
        # pnpm and yarn hand a `--` on to the script, where it would end Vitest's options
        ("pnpm test", f"pnpm test {VITEST_FLAGS}"),
        ("pnpm run test", f"pnpm run test {VITEST_FLAGS}"),
        ("yarn test", f"yarn test {VITEST_FLAGS}"),
        ("bun run test", f"bun run test {VITEST_FLAGS}"),
        ("bun test", "bun test --reporter=junit --reporter-outfile=junit.xml"),
    ],
)
def test_flags_go_where_each_package_manager_passes_them_to_the_runner(
    tmp_path: Path, line: str, expected: str
) -> None:
    root = package(tmp_path, {"test": "vitest run"})
    assert planned(root, f"      - run: {line}\n").line == f"      - run: {expected}\n"


@pytest.mark.parametrize(
    ("script", "more", "flags", "note"),
    [
        ("jest --ci", {"devDependencies": {"jest": "^30"}}, "--reporters=default --reporters=jest-junit",
         "jest writes JUnit XML through jest-junit: npm install --save-dev jest-junit"),
        ("cross-env NODE_ENV=test c8 mocha", {"devDependencies": {"mocha": "^11", "mocha-junit-reporter": "^2.2.1"}},
         "--reporter mocha-junit-reporter --reporter-options mochaFile=junit.xml", None),
        ("mocha", {"devDependencies": {"mocha": "^12.0.3", "mocha-junit-reporter": "^2.2.1"}},
         "--reporter xunit --reporter-option output=junit.xml",
         "mocha-junit-reporter 2.2 fails under Mocha 12: Mocha's own xunit reporter writes the JUnit XML"),
        ("node --test", {}, "--test-reporter=spec --test-reporter-destination=stdout "
         "--test-reporter=junit --test-reporter-destination=junit.xml", None),
        ("react-scripts test", {}, "--reporters=default --reporters=jest-junit",
         "jest writes JUnit XML through jest-junit: npm install --save-dev jest-junit"),
    ],
)  # fmt: skip
def test_each_runner_gets_the_flags_its_documentation_gives(
    tmp_path: Path, script: str, more: dict[str, object], flags: str, note: str | None
) -> None:
    plan = planned(package(tmp_path, {"test": script}, **more), "npm test")
    env = "JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true " if "jest-junit" in flags else ""
    assert plan.line == f"{env}npm test -- {flags}"
    assert plan.notes == ([note] if note else [])


def test_every_jest_suggestion_reports_a_test_file_that_fails_to_import(tmp_path: Path) -> None:
    """jest-junit leaves a file that fails to import out of its report unless
    ``reportTestSuiteErrors`` is on (``tests/data/junit/jest-junit-import-error``): a PR whose
    only breakage is an import would read green. Each form of the suggestion sets it, and the
    reports the suggested commands wrote on ``jest-app`` with such a file read its error."""
    root = package(tmp_path / "flags", {"test": "jest"}, devDependencies={"jest": "^30"})
    flags = planned(root, "      - run: cd web && npm test\n").line
    assert flags == (
        "      - run: cd web && JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true npm test -- "
        "--reporters=default --reporters=jest-junit\n"
    )
    assert planned(root, "npm run test").line.startswith(
        "JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true "
    )
    own = package(tmp_path / "own", {"test": "jest && node check.js"})
    (_, new) = planned(own, "npm test").edits["package.json"]
    assert json.loads(new)["scripts"]["test:junit"].startswith(
        "JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true jest "
    )
    assert (junit_command(root) or "").startswith(
        "JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true JEST_JUNIT_OUTPUT_FILE="
    )
    config = (DATA / "reports" / "jest-config-import-error" / "jest.config.js").read_text()
    assert "reportTestSuiteErrors: 'true'" in config
    for folder in ("jest-import-error", "jest-config-import-error"):
        summary = (DATA / "reports" / folder / "summary.txt").read_text()
        assert "Test Suites: 2 failed, 2 total" in summary  # one file fails to import
        run = parse_report(DATA / "reports" / folder / "junit.xml", source="j", max_bytes=10**7)
        assert isinstance(run, TestRun) and run.suite_errors == 1, folder
        assert run.counts()["failed"] == 2  # "Tests: 2 failed, 1 skipped, 4 passed, 7 total"


def test_vitest_behind_another_script_gets_the_junit_reporter_in_its_config(
    tmp_path: Path,
) -> None:
    root = package(tmp_path, {"test": "npm run test:unit", "test:unit": "vitest run"})
    config = (
        "import { defineConfig } from 'vitest/config';\n\n"
        "export default defineConfig({\n  test: {\n    include: ['src/**/*.test.js'],\n  },\n});\n"
    )
    (root / "vitest.config.js").write_text(config)
    plan = planned(root, "npm run test")
    assert plan.line == "npm run test"  # appended flags would not reach vitest
    old, new = plan.edits["vitest.config.js"]
    assert old == config
    assert new == config.replace(
        "  test: {\n",
        "  test: {\n"
        "    reporters: process.env.GITHUB_ACTIONS ? ['default', 'github-actions', 'junit'] "
        ": ['default'],\n"
        "    outputFile: { junit: 'junit.xml' },\n",
    )
    assert plan.notes == [
        "'test' runs vitest through 'test:unit': its config writes junit.xml on GitHub Actions"
    ]
    # A vite config without a test key gets one, in its own quotes.
    (root / "vitest.config.js").unlink()
    (root / "vite.config.ts").write_text(
        'import { defineConfig } from "vite";\n\nexport default defineConfig({\n'
        "  plugins: [],\n});\n"
    )
    _, vite = planned(root, "npm run test").edits["vite.config.ts"]
    assert '  test: {\n    reporters: process.env.GITHUB_ACTIONS ? ["default", ' in vite
    assert '    outputFile: { junit: "junit.xml" },\n  },\n  plugins: [],' in vite


def test_jest_config_or_package_json_jest_key_gets_jest_junit(tmp_path: Path) -> None:
    root = package(tmp_path / "a", {"test": "jest && node scripts/check.js"},
                   devDependencies={"jest": "^30", "jest-junit": "^17"})  # fmt: skip
    config = (
        "/** @type {import('jest').Config} */\nconst config = {\n  testEnvironment: 'node',\n"
        "};\n\nmodule.exports = config;\n"
    )
    (root / "jest.config.js").write_text(config)
    _, new = planned(root, "npm test").edits["jest.config.js"]
    assert new.splitlines()[2] == (
        "  reporters: process.env.GITHUB_ACTIONS ? ['default', ['jest-junit', { outputName: "
        "'junit.xml', addFileAttribute: 'true', classNameTemplate: '{filepath}', "
        "reportTestSuiteErrors: 'true' }]] : ['default'],"
    )
    keyed = package(tmp_path / "b", {"test": "jest; echo done"},
                    jest={"testEnvironment": "node"}, devDependencies={"jest": "^30"})  # fmt: skip
    plan = planned(keyed, "npm test")
    old, new = plan.edits["package.json"]
    assert json.loads(new)["jest"]["reporters"][1][0] == "jest-junit"
    assert json.loads(new)["jest"]["reporters"][1][1]["reportTestSuiteErrors"] == "true"
    assert json.loads(new)["scripts"] == json.loads(old)["scripts"]
    assert "package.json's jest key cannot test for CI: add junit.xml to .gitignore" in plan.notes


def test_mocha_and_node_behind_more_commands_get_a_junit_script_of_their_own(
    tmp_path: Path,
) -> None:
    root = package(tmp_path / "m", {"test": "mocha && echo checked"},
                   devDependencies={"mocha": "^11", "mocha-junit-reporter": "^2"})  # fmt: skip
    plan = planned(root, "yarn test")
    assert plan.line == "yarn test:junit"
    scripts = json.loads(plan.edits["package.json"][1])["scripts"]
    assert scripts["test:junit"] == (
        "mocha --reporter mocha-junit-reporter --reporter-options mochaFile=junit.xml "
        "&& echo checked"
    )
    # node --test with paths: options after a path would be read as more paths
    node = package(tmp_path / "n", {"test": "node --test test/"})
    plan = planned(node, "npm test")
    assert plan.line == "npm run test:junit"
    assert json.loads(plan.edits["package.json"][1])["scripts"]["test:junit"] == (
        "node --test --test-reporter=spec --test-reporter-destination=stdout "
        "--test-reporter=junit --test-reporter-destination=junit.xml test/"
    )


def test_a_package_in_a_subfolder_uploads_its_report_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package(tmp_path / "web", {"test": "vitest"})
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(
        "on: push\njobs:\n  web:\n    runs-on: ubuntu-latest\n"
        "    defaults:\n      run:\n        working-directory: web\n"
        "    steps:\n      - run: npm ci\n      - run: pnpm test\n"
        "  lint:\n    runs-on: ubuntu-latest\n    steps:\n      - run: npm run lint\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--offline"], env={}) == 0
    out, err = capsys.readouterr()
    assert f"+      - run: pnpm test {VITEST_FLAGS}\n" in out
    assert '+          path: "web/junit.xml"\n' in out
    assert "lint" not in err  # a script not named for tests gets no note


def test_a_runner_prompt_trainer_cannot_see_gets_a_note_not_a_guess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package(tmp_path, {"test": "turbo run test"}, workspaces=["packages/*"])
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: npm test\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--offline"], env={}) == 0
    out, err = capsys.readouterr()
    assert "upload-artifact" not in out
    assert (
        "init: - run: npm test: 'test' runs turbo (turbo run test): make each package's runner "
        "write junit.xml and upload **/junit.xml" in err
    )


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("mocha-junit-reporter", {"tests": 2, "failed": 1}),
        ("mocha-xunit", {"tests": 2, "failed": 1}),
        ("node-test", {"tests": 2, "failed": 1}),
        ("bun-test", {"tests": 2, "failed": 1}),
        ("jest-config", {"tests": 7, "failed": 2}),
    ],
)
def test_every_suggested_command_wrote_a_report_prompt_trainer_reads(
    folder: str, expected: dict[str, int]
) -> None:
    counts = report(DATA / "reports" / folder / "junit.xml").counts()
    assert {k: counts[k] for k in expected} == expected


def test_jest_junits_file_class_names_name_the_failing_tests_files() -> None:
    run = report(DATA / "reports" / "jest-config" / "junit.xml")
    assert {c.id.split("::")[0] for c in run.cases} == {"src/money.test.js"}
