"""Every prompt-file kind agents read (skills, nested CLAUDE.md, Copilot agents and path
instructions, Cursor rules, GEMINI.md): what kind a path is, the paths it applies to, how a
target holds and versions them, and how the trainer's edits treat them: frontmatter untouched,
the rest byte-identical, and a path-scoped file changed only for evidence in its scope (built
from real samples, as the strategies build it)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.errors import ConfigError
from prompt_trainer.evaluate import check_candidate
from prompt_trainer.models import (
    Candidate,
    Feedback,
    FileChange,
    PromptFile,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
    TokenUsage,
)
from prompt_trainer.prompt_kinds import Scope, frontmatter, glob_matches, kind_of, scope_of
from prompt_trainer.settings import Settings, Target, parse_config
from prompt_trainer.targets import LocalSource, load_prompt_set, parse_subagent, subagent_path
from prompt_trainer.train.edits import Edit, EvidenceIndex, apply_edits, numbered
from prompt_trainer.train.evidence import cited_items, evidence_view, paths_of_test
from prompt_trainer.train.shared import index_of
from prompt_trainer.train.views import Cited, EvidenceSample
from tests.scripted import lenient
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply, user_text

WHEN = datetime(2026, 11, 1, tzinfo=UTC)
INSTRUCTIONS = (
    "---\n"
    "description: 'API handlers'\n"
    'applyTo: "src/api/**/*.ts, src/api/**/*.test.ts"\n'
    "---\n"
    "# API handlers\n"
    "\n"
    "- Validate every request body with zod.\n"
    "- Return errors as RFC 7807 problem details.\n"
)
CURSOR_RULE = (
    "---\n"
    "description: Web components\n"
    "globs:\n"
    "  - src/web/**\n"
    "  - '*.css'\n"
    "alwaysApply: false\n"
    "---\n"
    "- Use function components.\n"
)
SKILL = (
    "---\n"
    "name: release-notes\n"
    "description: Write release notes from merged PRs. Use when asked for a changelog.\n"
    "---\n"
    "# Release notes\n"
    "\n"
    "- Group changes by package.\n"
    "- See [the format](format.md).\n"
)
NESTED = "# API package\n\n- Run `npm test -w packages/api` before pushing.\n"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("CLAUDE.md", "claude"),
        (".claude/CLAUDE.md", "claude"),
        ("packages/api/CLAUDE.md", "claude-nested"),
        ("AGENTS.md", "agents"),
        ("GEMINI.md", "gemini"),
        ("docs/GEMINI.md", "gemini-nested"),
        (".claude/agents/reviewer.md", "claude-subagent"),
        (".claude/skills/release-notes/SKILL.md", "claude-skill"),
        (".claude/skills/release-notes/format.md", "skill-file"),
        (".github/copilot-instructions.md", "copilot"),
        (".github/instructions/api.instructions.md", "copilot-instructions"),
        (".github/instructions/web/css.instructions.md", "copilot-instructions"),
        (".github/agents/planner.agent.md", "copilot-agent"),
        (".cursor/rules/web.mdc", "cursor-rule"),
        ("prompts/plan.md", "prompt"),
    ],
)
def test_every_prompt_file_kind_is_told_by_its_path(path: str, kind: str) -> None:
    assert kind_of(path) == kind


def test_an_alias_bomb_in_a_prompt_files_frontmatter_is_refused_before_it_expands() -> None:
    """A rules file's ``applyTo`` whose aliases stand for 9^5 globs (and 9^8 in the document):
    read as no frontmatter, not expanded (``settings.load_yaml``'s node cap)."""
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 9)]
    bomb = "---\n" + "\n".join(lines) + "\napplyTo: *l5\n---\nUse the API client.\n"
    refused = frontmatter(bomb) == {}  # (not in the assert: pytest would print the expansion)
    assert refused
    assert scope_of(".github/instructions/x.instructions.md", bomb) is None
    assert frontmatter("---\napplyTo: &g src/**\nglobs: *g\n---\n") == {
        "applyTo": "src/**",
        "globs": "src/**",
    }  # a plain alias still reads


def test_scopes_come_from_apply_to_globs_and_the_nested_files_directory() -> None:
    api = scope_of(".github/instructions/api.instructions.md", INSTRUCTIONS)
    assert api is not None and api.globs == ("src/api/**/*.ts", "src/api/**/*.test.ts")
    web = scope_of(".cursor/rules/web.mdc", CURSOR_RULE)
    assert web is not None and web.globs == ("src/web/**", "*.css")
    nested = scope_of("packages/api/CLAUDE.md", NESTED)
    assert nested == Scope(("packages/api/**",), "CLAUDE.md in packages/api/")
    # Everywhere, or where the agent chooses: not path-scoped.
    assert scope_of(".github/instructions/all.instructions.md", '---\napplyTo: "**"\n---\n') is None
    assert scope_of(".cursor/rules/a.mdc", "---\nglobs: src/**\nalwaysApply: true\n---\n") is None
    assert scope_of(".cursor/rules/a.mdc", "---\ndescription: when migrating\n---\n") is None
    assert scope_of(".claude/skills/release-notes/SKILL.md", SKILL) is None
    assert scope_of("CLAUDE.md", NESTED) is None


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/*.ts", "a.ts", True),
        ("**/*.ts", "src/deep/a.ts", True),
        ("src/**", "src/a/b.ts", True),
        ("src/**", "lib/src/a.ts", False),
        ("*.css", "src/web/site.css", True),  # no slash: a file name anywhere (.gitignore)
        ("src/*.ts", "src/a/b.ts", False),
        ("**/*.{ts,tsx}", "web/App.tsx", True),
        ("./src/**", "src/x.ts", True),
        (".github/**", "github/x.yml", False),
    ],
)
def test_globs_match_as_the_editors_match_them(pattern: str, path: str, matches: bool) -> None:
    assert glob_matches(pattern, path) is matches


def test_a_ci_runners_absolute_path_counts_by_its_trailing_parts() -> None:
    scope = Scope(("packages/api/**",), "")
    assert scope.covers("/home/runner/work/app/app/packages/api/src/users.test.ts")
    assert not scope.covers("/home/runner/work/app/app/packages/web/src/users.test.ts")


def test_a_target_holds_and_versions_its_listed_files(tmp_path: Path) -> None:
    (tmp_path / ".github" / "instructions").mkdir(parents=True)
    (tmp_path / ".github" / "agents").mkdir()
    (tmp_path / ".github" / "copilot-instructions.md").write_text("- Be brief.\n")
    (tmp_path / ".github" / "instructions" / "api.instructions.md").write_text(INSTRUCTIONS)
    (tmp_path / ".github" / "agents" / "planner.agent.md").write_text(
        "---\ndescription: Plans work\ntools: ['read']\n---\nPlan first.\n"
    )
    config = parse_config(
        "targets:\n"
        "  - name: copilot\n"
        "    main: .github/copilot-instructions.md\n"
        "    subagents: .github/agents\n"
        "    files: [.github/instructions/api.instructions.md, .github/instructions/gone.md]\n",
        source="t",
    )
    target = config.targets[0]
    prompts = load_prompt_set(target, LocalSource(tmp_path))
    assert [f.path for f in prompts.files] == [
        ".github/copilot-instructions.md",
        ".github/agents/planner.agent.md",
        ".github/instructions/api.instructions.md",  # the missing one is absent, not an error
    ]
    assert prompts.subagents[0].name == "planner"  # planner.agent.md, no name in frontmatter
    assert subagent_path(target, "reviewer") == ".github/agents/reviewer.agent.md"
    before = prompts.version
    (tmp_path / ".github" / "instructions" / "api.instructions.md").write_text(
        INSTRUCTIONS + "- One more.\n"
    )
    assert load_prompt_set(target, LocalSource(tmp_path)).version != before


@pytest.mark.parametrize("bad", ["../outside.md", "/etc/passwd", "a/../../b.md"])
def test_listed_files_must_stay_inside_the_repository(bad: str) -> None:
    with pytest.raises(ConfigError, match="not paths inside the repository"):
        parse_config(f"targets: [{{name: a, main: A.md, files: ['{bad}']}}]", source="t")


def test_the_frontmatter_holds_no_bullets_for_the_model_to_number_or_edit() -> None:
    assert numbered(CURSOR_RULE).split("\n")[3] == "  - src/web/**"
    assert "[B1] Use function components." in numbered(CURSOR_RULE)
    target = Target(name="cursor", main=".cursor/rules/web.mdc")
    current = load_prompt_set(target, _Files({target.main: CURSOR_RULE}))
    result = apply_edits(
        current,
        target,
        [Edit(op="remove", target_text="src/web/**", evidence=["E1"])],
        evidence_ids=EvidenceIndex({"E1"}, paths={"E1": ("src/web/App.tsx",)}),
    )
    assert result.files[target.main] == CURSOR_RULE
    assert result.dropped[0][1].startswith("bullet not found")


def _sample(*, review_path: str, failing_test: str, changed: str) -> Sample:
    review = Feedback(
        kind="review_comment",
        id="c1",
        author="maria",
        trusted=True,
        body="Validate the query string too.",
        path=review_path,
        line=12,
        url="https://github.com/o/r/pull/7#discussion_r1",
    )
    case = TestCase(classname=failing_test, name="rejects bad ids", status="failed", message="x")
    return Sample(
        id="o/r#7",
        pull=PullRequestInfo(number=7, title="Add users API", files=(FileChange(path=changed),)),
        test_runs=(TestRun(source="junit.xml", cases=(case,)),),
        feedback=(review,),
        collected_at=WHEN,
    )


class _Files:
    """A repository tree in memory (a ``targets.PromptSource``)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def list_files(self, directory: str) -> list[str]:
        return sorted(p for p in self.files if p.rsplit("/", 1)[0] == directory)


TREE = {
    "CLAUDE.md": "# Rules\n\n- Keep changes small.\n",
    "packages/api/CLAUDE.md": NESTED,
    ".claude/skills/release-notes/SKILL.md": SKILL,
    ".github/instructions/api.instructions.md": INSTRUCTIONS,
}
CLAUDE = Target(
    name="claude",
    main="CLAUDE.md",
    files=(
        "packages/api/CLAUDE.md",
        ".claude/skills/release-notes/SKILL.md",
        ".github/instructions/api.instructions.md",
    ),
)


def _edit(file: str, ref: str) -> Edit:
    return Edit(op="add", file=file, new_text="Check ids with isUuid().", evidence=[ref])


def test_a_scoped_file_changes_only_for_evidence_about_its_paths() -> None:
    current = load_prompt_set(CLAUDE, _Files(TREE))
    inside = evidence_view(
        _sample(
            review_path="packages/api/src/users.ts",
            failing_test="packages/api/src/users.test.ts",
            changed="packages/api/src/users.ts",
        )
    )
    index = index_of([inside])
    refs = {type(item).__name__: item.ref for item in _items(inside)}
    edits = [
        _edit("packages/api/CLAUDE.md", refs["ReviewNote"]),  # a reviewed file in the scope
        _edit("packages/api/CLAUDE.md", refs["FailureGroup"]),  # a failing test's file
        _edit("packages/api/CLAUDE.md", refs["ChangedFile"]),  # a changed file
        _edit("packages/api/CLAUDE.md", refs["Task"]),  # the task names no file
        _edit(".github/instructions/api.instructions.md", refs["ReviewNote"]),  # not src/api/
        _edit(".claude/skills/release-notes/SKILL.md", refs["Task"]),  # not scoped
    ]
    result = apply_edits(current, CLAUDE, edits, evidence_ids=index)
    assert len(result.applied) == 4
    reasons = [why for _, why in result.dropped]
    assert reasons == [
        "packages/api/CLAUDE.md applies only to CLAUDE.md in packages/api/; the cited evidence "
        "is about no file",
        ".github/instructions/api.instructions.md applies only to applyTo: src/api/**/*.ts, "
        "src/api/**/*.test.ts; the cited evidence is about packages/api/src/users.ts",
    ]
    nested = result.files["packages/api/CLAUDE.md"]
    assert nested.startswith(NESTED.rstrip("\n") + "\n")  # untouched text byte-identical
    assert nested.count("- Check ids with isUuid().") == 3
    skill = result.files[".claude/skills/release-notes/SKILL.md"]
    assert skill.startswith(SKILL.split("# Release", maxsplit=1)[0])  # frontmatter as written
    assert skill.rstrip("\n").endswith("- Check ids with isUuid().")
    assert result.files[".github/instructions/api.instructions.md"] == INSTRUCTIONS
    candidate = _candidate(current.version, result.files)
    assert check_candidate(candidate, current, CLAUDE).problems == ()


def test_evidence_about_other_paths_cannot_reach_a_scoped_file() -> None:
    current = load_prompt_set(CLAUDE, _Files(TREE))
    outside = evidence_view(
        _sample(
            review_path="packages/web/src/App.tsx",
            failing_test="packages.web.tests.test_app",
            changed="README.md",
        )
    )
    refs = [item.ref for item in _items(outside)]
    edits = [_edit("packages/api/CLAUDE.md", ref) for ref in refs]
    result = apply_edits(current, CLAUDE, edits, evidence_ids=index_of([outside]))
    assert result.applied == []
    assert result.files["packages/api/CLAUDE.md"] == NESTED
    # A reviewer's request on the bot's own PR (revise) knows no paths: no scope to check.
    revised = apply_edits(
        current, CLAUDE, [_edit("packages/api/CLAUDE.md", "c1")], evidence_ids={"c1"}
    )
    assert len(revised.applied) == 1


def test_a_candidate_that_rewrites_frontmatter_or_drops_a_skills_name_is_refused() -> None:
    current = load_prompt_set(CLAUDE, _Files(TREE))
    files = dict(TREE)
    files[".github/instructions/api.instructions.md"] = INSTRUCTIONS.replace("src/api", "src")
    files[".claude/skills/release-notes/SKILL.md"] = SKILL.replace("name: release-notes\n", "")
    problems = check_candidate(_candidate(current.version, files), current, CLAUDE).problems
    assert problems == (
        ".claude/skills/release-notes/SKILL.md: its frontmatter changed (it is kept as written)",
        ".github/instructions/api.instructions.md: its frontmatter changed (it is kept as written)",
    )


def test_test_ids_name_their_files_in_each_runners_form() -> None:
    assert paths_of_test("src/api/users.test.ts::rejects bad ids") == {"src/api/users.test.ts"}
    assert paths_of_test("tests.test_fees::test_total") == {"tests/test_fees.py"}
    assert paths_of_test("tests.test_fees.TestFees::test_total") == {
        "tests/test_fees.py",
        "tests/test_fees/TestFees.py",
    }
    assert paths_of_test(" adds:: adds") == set()  # jest-junit's default class name
    assert parse_subagent(".github/agents/planner.agent.md", "Plan.\n").name == "planner"


def _candidate(version: str, files: dict[str, str]) -> Candidate:
    return Candidate(
        target="claude",
        base_version=version,
        files=tuple(PromptFile(path=p, content=c) for p, c in sorted(files.items())),
        analysis_summary="",
        usage=TokenUsage(),
        sample_ids=(),
    )


def _items(view: EvidenceSample) -> list[Cited]:
    return [item for item in cited_items(view) if isinstance(item, Cited)]


# -- the trainer end to end, against the local LM server ------------------------------------

REVIEW = "https://github.com/example/invoices/pull/101#discussion_r9001"  # on invoices/billing.py
INVOICES = "# Invoices package\n\n- Keep one HTTP client per service.\n"
WEB = (
    "---\ndescription: Web UI\nglobs: web/**\nalwaysApply: false\n---\n- Use function components.\n"
)


def reflect_on_review(request: dict[str, object]) -> str:
    return chat_adapter_reply(
        root_cause="A second HTTP client was added.",
        correct_approach="Billing calls go through ApiClient.",
        bullets=[{"bullet": "invoices/CLAUDE.md B1", "verdict": "missing", "note": "billing"}],
        evidence=[REVIEW],
    )


def curate_everywhere(request: dict[str, object]) -> str:
    """A model that puts one lesson into every file it sees, citing the same review: right for
    the invoices package, junk for the web rule."""
    return chat_adapter_reply(
        edits=[
            {"op": "add", "file": path, "new_text": "Add billing calls to ApiClient.",
             "evidence": [REVIEW], "reason": "the review asked for it"}
            for path in ("invoices/CLAUDE.md", ".cursor/rules/web.mdc")
        ],
        analysis_summary="Billing calls belong in ApiClient.",
    )  # fmt: skip


def test_training_changes_a_scoped_file_only_for_evidence_in_its_scope(
    example: Path, llm: FakeLLM
) -> None:
    (example / "invoices").mkdir()
    (example / "invoices" / "CLAUDE.md").write_text(INVOICES)
    (example / ".cursor" / "rules").mkdir(parents=True)
    (example / ".cursor" / "rules" / "web.mdc").write_text(WEB)
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(
        config.read_text().replace(
            "    max_subagents: 5\n",
            "    max_subagents: 5\n    files: [invoices/CLAUDE.md, .cursor/rules/web.mdc]\n",
        )
        + "training:\n  holdout: 0\n"
    )
    assert main(["collect", "--local", "evidence"], env={}) == 0
    llm.script = [
        by_signature(root_cause=reflect_on_review, edits=curate_everywhere, verdicts=lenient)
    ]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    # The model saw every file at its path, the Cursor rule with its globs.
    curation = next(r for r in llm.requests if "[[ ## edits ## ]]" in str(r["messages"][0]))
    shown = user_text(curation)
    assert "invoices/CLAUDE.md" in shown and "globs: web/**" in shown
    assert '"applies_to": "only web/**: change it only for evidence there"' in shown
    folder = example / ".prompt-trainer" / "candidates" / "coder" / "candidate-001"
    assert (folder / "invoices" / "CLAUDE.md").read_text() == (
        INVOICES + "- Add billing calls to ApiClient.\n"
    )
    assert (folder / ".cursor" / "rules" / "web.mdc").read_text() == WEB
    evaluation = json.loads((folder / "evaluation.json").read_text())
    assert evaluation["guardrails"]["passed"] is True
    assert evaluation["dropped"] == [
        "add 'Add billing calls to ApiClient.': .cursor/rules/web.mdc applies only to globs: "
        "web/**; the cited evidence is about invoices/billing.py"
    ]


def test_the_rules_strategy_appends_to_a_scoped_main_file_only_rules_about_its_scope(
    example: Path, llm: FakeLLM
) -> None:
    """A nested CLAUDE.md as a target's main file applies to its folder: the rules strategy
    (whose rules are appended, not applied as edits) drops a rule resting on a test outside it,
    even when the check says yes to everything, and keeps one about a file inside it."""
    (example / "invoices").mkdir()
    (example / "invoices" / "CLAUDE.md").write_text(INVOICES)
    config = example / ".github" / "prompt-trainer.yml"
    config.write_text(
        config.read_text().replace("main: CLAUDE.md", "main: invoices/CLAUDE.md")
        + "training:\n  holdout: 0\n"
    )
    assert main(["collect", "--local", "evidence"], env={}) == 0
    rounding = "tests.test_fees::test_invoice_total_rounding"

    def rules(request: dict[str, object]) -> str:
        return chat_adapter_reply(
            rules=[
                {"category": "integration_error", "rule": "Add billing calls to `ApiClient`.",
                 "when": "billing", "why": "a second client", "evidence": [REVIEW]},
                {"category": "wrong_pattern", "rule": "Round money with `quantize`.",
                 "when": "money", "why": "rounding tests fail", "evidence": [rounding]},
            ],
            analysis_summary="Two rules.",
        )  # fmt: skip

    def merge(request: dict[str, object]) -> str:
        return chat_adapter_reply(decisions=[{"rule": "N1", "action": "add", "bullet": ""}])

    llm.script = [by_signature(rules=rules, decisions=merge, verdicts=lenient)]
    assert main(["train", "--strategy", "rules", "--api-base", llm.api_base], env={}) == 0
    folder = example / ".prompt-trainer" / "candidates" / "coder" / "candidate-001"
    after = (folder / "invoices" / "CLAUDE.md").read_text()
    assert "Add billing calls to `ApiClient`." in after
    assert "quantize" not in after
    dropped = json.loads((folder / "evaluation.json").read_text())["dropped"]
    assert any(
        "Round money with `quantize`." in d
        and "invoices/CLAUDE.md applies only to" in d
        and "tests/test_fees.py" in d
        for d in dropped
    ), dropped


# -- init finds every kind; versions follow every listed file -------------------------------

EVERY_KIND = {
    "CLAUDE.md": "- Be brief.\n",
    ".claude/agents/reviewer.md": "---\nname: reviewer\ndescription: Reviews\n---\nReview.\n",
    ".claude/skills/deploy/SKILL.md": "---\nname: deploy\ndescription: Deploys\n---\n"
    "- Read [the checklist](checklist.md) and [the script](run.sh).\n",
    ".claude/skills/deploy/checklist.md": "- Tag first.\n",
    ".claude/skills/deploy/run.sh": "echo deploy\n",
    "packages/api/CLAUDE.md": NESTED,
    "node_modules/left-pad/CLAUDE.md": "- never read\n",
    "AGENTS.md": "- Run the tests.\n",
    "GEMINI.md": "- Gemini rules.\n",
    "docs/GEMINI.md": "- Docs rules.\n",
    ".github/copilot-instructions.md": "- Copilot rules.\n",
    ".github/instructions/api.instructions.md": INSTRUCTIONS,
    ".github/agents/planner.agent.md": "---\ndescription: Plans\n---\nPlan.\n",
    ".cursor/rules/web.mdc": CURSOR_RULE,
    ".cursor/rules/core.mdc": "---\ndescription: Core\nalwaysApply: true\n---\n- Core.\n",
}


def test_init_finds_every_prompt_file_kind_and_groups_them_by_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for path, text in EVERY_KIND.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--offline"], env={}) == 0
    err = capsys.readouterr().err
    assert "found CLAUDE.md, .claude/agents/, skills: 1, nested CLAUDE.md: 1: target claude" in err
    settings = Settings.load(tmp_path / ".github" / "prompt-trainer.yml", {}, root=tmp_path)
    found = {t.name: (t.main, t.subagents, t.files) for t in settings.config.targets}
    assert found == {
        "claude": (
            "CLAUDE.md",
            ".claude/agents",
            (
                ".claude/skills/deploy/SKILL.md",
                ".claude/skills/deploy/checklist.md",  # linked; the script is not a prompt
                "packages/api/CLAUDE.md",  # node_modules is ignored by git
            ),
        ),
        "agents": ("AGENTS.md", None, ()),
        "copilot": (
            ".github/copilot-instructions.md",
            ".github/agents",
            (".github/instructions/api.instructions.md",),
        ),
        "cursor": (".cursor/rules/core.mdc", None, (".cursor/rules/web.mdc",)),
        "gemini": ("GEMINI.md", None, ("docs/GEMINI.md",)),
    }
    assert main(["doctor", "--offline"], env={}) == 2  # the placeholder Action ref only
    out = capsys.readouterr().out
    assert "[ok  ] prompts: claude: 5 file(s)" in out


def test_a_commit_to_a_listed_file_is_a_new_version(tmp_path: Path) -> None:
    from prompt_trainer.measure.versions import GitHistory, HashCache, resolve_versions  # noqa: PLC0415

    def commit(message: str) -> None:
        for args in (
            ["add", "-A"],
            ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", message],
        ):
            subprocess.run(["git", "-C", str(tmp_path), *args], check=True)  # fmt: skip

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "CLAUDE.md").write_text("- Be brief.\n")
    (tmp_path / "packages" / "api").mkdir(parents=True)
    (tmp_path / "packages" / "api" / "CLAUDE.md").write_text(NESTED)
    commit("start")
    (tmp_path / "packages" / "api" / "CLAUDE.md").write_text(NESTED + "- Log every request.\n")
    commit("api: log requests")
    target = Target(name="claude", main="CLAUDE.md", files=("packages/api/CLAUDE.md",))
    history = GitHistory.open(tmp_path)
    assert history is not None
    versions = resolve_versions(
        target, history=history, cache=HashCache(tmp_path / "v.json"), current=None, seen=()
    )
    assert [v.subject for v in versions] == ["start", "api: log requests"]
    assert versions[1].files == ("CLAUDE.md", "packages/api/CLAUDE.md")


def test_the_main_file_applies_everywhere_when_any_file_does(tmp_path: Path) -> None:
    from prompt_trainer.setup.prompt_files import detect_targets  # noqa: PLC0415

    files = {
        "packages/api/CLAUDE.md": NESTED,  # scoped to its folder
        ".claude/skills/release-notes/SKILL.md": SKILL,
        ".cursor/rules/web.mdc": CURSOR_RULE,  # globs only: the sole rule, so still main
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    found = {t.name: (t.main, t.files) for t in detect_targets(tmp_path).targets}
    assert found == {
        "claude": (".claude/skills/release-notes/SKILL.md", ("packages/api/CLAUDE.md",)),
        "cursor": (".cursor/rules/web.mdc", ()),
    }
