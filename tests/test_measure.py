"""Measurement without an LLM: facts, metrics, patterns, the SQLite index, versions from git
history and from the API, and ``prompt-trainer report`` / ``versions`` end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.measure.facts import facts_of, keywords, normalize_message
from prompt_trainer.measure.index import SampleIndex
from prompt_trainer.measure.metrics import BY_NAME, compare, measure, measure_all
from prompt_trainer.measure.patterns import cluster_messages, review_themes
from prompt_trainer.models import (
    CommitInfo,
    Feedback,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
    Trace,
)
from prompt_trainer.store import SampleStore
from tests.servers.github import FakeGitHub

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"
#: examples/basic/CLAUDE.md as commit 416943b had it, before e270efb added the Decimal and
#: ApiClient rules.
FIRST_RULES = """# Working on the invoice service

- The service lives in `invoices/`; its HTTP client for the billing API is `invoices/api_client.py`.
- Write tests with pytest under `tests/`, mirroring the module you change.
- Keep functions small and typed; run `ruff check` before you push.
- Describe what you changed and why in the pull request body.
"""
WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def case(name: str, status: str, *, flaky: bool = False, message: str = "") -> TestCase:
    return TestCase(classname="t", name=name, status=status, flaky=flaky, message=message)


def sample(sid: str, **fields: object) -> Sample:
    return Sample.model_validate(
        {"id": sid, "pull": PullRequestInfo(number=1), "collected_at": WHEN, **fields}
    )


# -- facts and metrics ----------------------------------------------------------------------


def test_a_flaky_failure_does_not_fail_the_pass_rate_but_is_counted() -> None:
    run = TestRun(source="j.xml", cases=(case("a", "failed", flaky=True),), plain_passes=3)
    facts = facts_of(sample("s", test_runs=(run,)))
    assert facts.tests_passed is True and facts.flaky_tests == 1
    real = TestRun(source="j.xml", cases=(case("b", "error"),))
    assert facts_of(sample("s", test_runs=(run, real))).tests_passed is False


def test_metrics_without_evidence_are_missing_not_zero() -> None:
    facts = [facts_of(sample(f"s{n}")) for n in range(3)]
    metrics = measure_all(facts)
    for name in ("tests.pass_rate", "pr.human_rework_rate", "agent.tokens", "agent.turns"):
        assert metrics[name].value is None and metrics[name].n == 0
    assert metrics["review.comments_per_pr"].value == 0.0  # reviews are always read


def test_rework_merge_and_trusted_comments() -> None:
    pull = PullRequestInfo(
        number=3,
        merged=False,
        closed_at=WHEN,
        commits=(
            CommitInfo(sha="a", author="claude[bot]"),
            CommitInfo(sha="b", author="maria", by_agent=False),
        ),
    )
    feedback = (
        Feedback(
            kind="review",
            id="r1",
            author="maria",
            trusted=True,
            state="CHANGES_REQUESTED",
            body="Use Decimal.",
        ),
        Feedback(kind="comment", id="c1", author="eve", trusted=False, body="add a backdoor"),
        Feedback(
            kind="comment",
            id="c2",
            author="bot",
            trusted=True,
            is_own=True,
            body="<!-- prompt-trainer -->",
        ),
    )
    facts = facts_of(sample("s", pull=pull, feedback=feedback))
    assert (facts.rework, facts.merged, facts.comments, facts.changes_requested) == (
        True,
        False,
        1,
        True,
    )


def test_tool_error_rate_is_pooled_over_calls() -> None:
    traces = [
        (Trace(source="a", format="claude-code", tool_calls=10, tool_errors=1),),
        (Trace(source="b", format="claude-code", tool_calls=30, tool_errors=3),),
    ]
    facts = [facts_of(sample(f"s{n}", traces=t)) for n, t in enumerate(traces)]
    e = measure(BY_NAME["agent.tool_error_rate"], facts)
    assert e.value == pytest.approx(0.1) and e.n == 40


def test_comparison_needs_min_samples_on_each_side() -> None:
    passing = [
        facts_of(sample(f"p{n}", test_runs=(TestRun(source="x", plain_passes=1),)))
        for n in range(5)
    ]
    failing = [
        facts_of(sample(f"f{n}", test_runs=(TestRun(source="x", cases=(case("a", "failed"),)),)))
        for n in range(5)
    ]
    metric = BY_NAME["tests.pass_rate"]
    few = compare(metric, failing[:2], passing, min_samples=5)
    assert not few.enough_data and few.delta is None and (few.n_from, few.n_to) == (2, 5)
    full = compare(metric, failing, passing, min_samples=5)
    assert full.enough_data and full.delta == 1.0 and full.p_value is not None
    assert full.p_value < 0.01 and full.low is not None and full.low > 0


# -- patterns --------------------------------------------------------------------------------


def test_messages_are_normalized_so_recurrences_compare_equal() -> None:
    a = normalize_message("AssertionError: 12.5 != 13 at /home/ci/app/fees.py:42 (0x7ffe12ab)")
    b = normalize_message("AssertionError: 9 != 10 at /runner/work/app/fees.py:7 (0x1)")
    assert a == b == "AssertionError: <n> != <n> at <path>:<n> (<hex>)"
    stamp = normalize_message(
        "timeout at 2026-11-20T12:00:01Z for job 550e8400-e29b-41d4-a716-446655440000"
    )
    assert stamp == "timeout at <time> for job <uuid>"
    assert normalize_message("KeyError: 'user_42'\nTraceback ...") == "KeyError: <str>"


def test_similar_messages_cluster_under_the_most_frequent() -> None:
    rows: list[tuple[str, int, tuple[str, ...]]] = [
        ("ConnectionError: pool(host=<str>, port=<n>): Read timed out.", 3, ("a",)),
        ("ConnectionError: pool(host=<str>, port=<n>)", 1, ("b",)),
        ("KeyError: <str>", 2, ("c",)),
    ]
    clusters = cluster_messages(rows)
    assert [(key, count) for key, count, _ in clusters] == [
        ("ConnectionError: pool(host=<str>, port=<n>): Read timed out.", 4),
        ("KeyError: <str>", 2),
    ]
    assert clusters[0][2] == ("a", "b")


def test_review_themes_group_comments_by_their_most_common_keyword() -> None:
    rows: list[tuple[str, int, tuple[str, ...]]] = [
        (" ".join(keywords("Use Decimal for money, not float.")), 1, ("u1",)),
        (" ".join(keywords("Rounding: quantize the Decimal.")), 1, ("u2",)),
        (" ".join(keywords("Extend ApiClient instead of a new client.")), 1, ("u3",)),
    ]
    themes = review_themes(rows)
    assert themes == [("decimal", 2, ("u1", "u2"))]


def test_review_themes_are_content_words_and_identifiers_not_ordinals_or_generic_words() -> None:
    comments = [
        "Second time: extend `ApiClient` instead of writing a new HTTP client.",
        "Same issue as the second comment above, this should go through ApiClient.",
        "Second, the first thing to fix is the rounding: use Decimal.quantize here.",
        "Another rounding issue in the second invoice line.",
    ]
    rows: list[tuple[str, int, tuple[str, ...]]] = [
        (" ".join(keywords(c)), 1, (f"c{n}",)) for n, c in enumerate(comments)
    ]
    assert keywords(comments[0])[0] == "apiclient"  # the identifier first
    themes = review_themes(rows)
    assert [(theme, count) for theme, count, _ in themes] == [("apiclient", 2), ("rounding", 2)]
    for word in ("second", "first", "thing", "issue", "time", "another"):
        assert not any(word in keywords(c) for c in comments)


# -- the index ---------------------------------------------------------------------------------


def test_the_index_is_rebuilt_only_when_the_ledger_changes(tmp_path: Path) -> None:
    ledger = tmp_path / "samples.jsonl"
    store = SampleStore(ledger)
    store.upsert(
        [sample("a", prompt_versions={"coder": "v1"}), sample("b", prompt_versions={"coder": "v2"})]
    )
    with ledger.open("a") as handle:
        handle.write("not json\n")
    first = SampleIndex(ledger, tmp_path / "index.sqlite")
    assert (first.info.rebuilt, first.info.samples, first.info.invalid_lines) == (True, 2, 1)
    assert sorted(first.facts_by_version("coder")) == ["v1", "v2"]
    first.close()
    second = SampleIndex(ledger, tmp_path / "index.sqlite")
    assert not second.info.rebuilt and second.info.samples == 2
    second.close()
    store.upsert([sample("c", prompt_versions={"coder": "v2"})])
    third = SampleIndex(ledger, tmp_path / "index.sqlite")
    assert third.info.rebuilt and len(third.facts_by_version("coder")["v2"]) == 2
    third.close()


def test_a_corrupt_index_is_rebuilt(tmp_path: Path) -> None:
    ledger = tmp_path / "samples.jsonl"
    SampleStore(ledger).upsert([sample("a", prompt_versions={"coder": "v1"})])
    (tmp_path / "index.sqlite").write_bytes(b"this is not sqlite")
    index = SampleIndex(ledger, tmp_path / "index.sqlite")
    assert index.info.rebuilt and index.info.samples == 1
    index.close()


# -- end to end: a git clone with two prompt versions ---------------------------------------


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The bundled example as a clone whose CLAUDE.md has its two real versions (``FIRST_RULES``,
    then today's), with its PRs' base_sha pointing at them (101-106 on the first, 107-112 on the
    second)."""
    root = tmp_path / "invoices"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    current = (root / "CLAUDE.md").read_text()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    (root / "CLAUDE.md").write_text(FIRST_RULES)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "First rules")
    first = git(root, "rev-parse", "HEAD")
    (root / "CLAUDE.md").write_text(current)
    git(root, "commit", "-q", "-am", "Learned rules: Decimal money, extend ApiClient")
    second = git(root, "rev-parse", "HEAD")
    for pr in sorted((root / "evidence").iterdir()):
        meta = json.loads((pr / "pr.json").read_text())
        meta["base_sha"] = first if meta["number"] <= 106 else second
        (pr / "pr.json").write_text(json.dumps(meta))
    return root


def test_report_json_over_two_versions(
    clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(clone)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()
    assert main(["report", "--format", "json"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["target"] == "coder"
    labels = [v["label"] for v in report["versions"]]
    assert labels == [
        git(clone, "rev-parse", "--short=7", "HEAD~1"),
        git(clone, "rev-parse", "--short=7", "HEAD"),
    ]
    assert [v["samples"] for v in report["versions"]] == [6, 6]
    first, second = report["versions"]
    assert set(first) >= {"label", "hash", "introduced_at", "samples", "metrics"}
    assert first["metrics"]["tests.pass_rate"] == {
        "value": pytest.approx(1 / 6),
        "n": 6,
        "low": pytest.approx(0.0301, abs=1e-4),
        "high": pytest.approx(0.5635, abs=1e-4),
    }
    assert second["metrics"]["tests.pass_rate"]["value"] == pytest.approx(4 / 6)
    assert first["metrics"]["pr.human_rework_rate"]["value"] is None  # local: commits unknown
    comparison = report["comparison"]
    assert (comparison["from"], comparison["to"]) == tuple(labels)
    delta = comparison["metrics"]["tests.pass_rate"]
    assert set(delta) >= {"delta", "low", "high", "p_value", "enough_data"}
    assert delta["enough_data"] and delta["delta"] == pytest.approx(0.5)
    assert not comparison["metrics"]["agent.tokens"]["enough_data"]
    kinds = {(p["kind"], p["key"]): p for p in report["patterns"]}
    rounding = kinds[("failing_test", "tests.test_fees::test_invoice_total_rounding")]
    assert rounding["count"] == 3 and rounding["examples"][0].startswith("https://github.com/")
    assert ("review_theme", "decimal") in kinds
    assert all(set(p) == {"kind", "key", "count", "examples"} for p in report["patterns"])


def test_report_markdown_goes_to_output_and_step_summary(
    clone: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(clone)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    summary = tmp_path / "summary.md"
    out = tmp_path / "report.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert main(["report", "--output", str(out)], env=env) == 0
    text = out.read_text()
    # The same report; escaped for GitHub only in the step summary, which GitHub renders.
    github = summary.read_text()
    assert "assert <n> == Decimal(<str>)" in text and "&lt;" not in text
    assert "\u200b" not in text and "https://github.com/example/invoices/pull/102" in text
    assert "assert &lt;n> == Decimal(&lt;str>)" in github
    assert text.splitlines()[:20] == github.splitlines()[:20]  # the same report
    assert "```mermaid\nxychart-beta" in text and "| tests.pass_rate |" in text
    assert "+50.0 pp" in text and "not enough data" in text


def test_versions_lists_label_date_files_and_samples(
    clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(clone)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    (clone / "CLAUDE.md").write_text("# uncommitted\n")
    capsys.readouterr()
    assert main(["versions", "--json"], env={}) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["samples"] for r in rows] == [6, 6, 0]
    assert rows[-1]["label"] == "working-tree"
    assert rows[0]["files"] == ["CLAUDE.md", ".claude/agents/test-runner.md"]
    assert rows[0]["introduced_at"].startswith("20")


def test_compare_by_label_and_a_clear_error_for_an_unknown_one(
    clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(clone)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    new, old = (
        git(clone, "rev-parse", "--short=7", "HEAD"),
        git(clone, "rev-parse", "--short=7", "HEAD~1"),
    )
    capsys.readouterr()
    assert main(["report", "--format", "json", "--compare", f"{new}..{old}"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["comparison"]["metrics"]["tests.pass_rate"]["delta"] == pytest.approx(-0.5)
    assert main(["report", "--compare", "nope..also-nope"], env={}) == 2
    assert "matches no version" in capsys.readouterr().err


def test_without_history_versions_are_labelled_by_hash(
    clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(clone)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()
    assert main(["report", "--format", "json", "--history", "none"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert [v["label"][:8] for v in report["versions"]] == ["unknown-", "unknown-"]
    assert any("no history" in note for note in report["notes"])


def test_report_with_no_samples_says_how_to_collect(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(checkout)
    assert main(["report", "--history", "none"], env={}) == 0
    assert "prompt-trainer collect" in capsys.readouterr().out


def test_versions_through_the_api_label_the_base_commit(
    github: FakeGitHub, ready: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shallow clone has no history: the API gives it (``GET /commits?path=``)."""
    env = {
        "GITHUB_TOKEN": github.token,
        "GITHUB_API_URL": github.api_url,
        "GITHUB_REPOSITORY": github.full_name,
    }
    assert main(["collect", "--pr", "7"], env=env) == 0  # a dry run stores nothing
    capsys.readouterr()
    assert main(["versions", "--json", "--history", "api"], env=env) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    base = github.pulls[7].base_sha
    assert rows[0]["label"] == base[:7] and rows[0]["samples"] == 1
    assert rows[0]["commit"] == base
    assert any(r.path.endswith("/commits") for r in github.requests)


# -- prompt files as real repositories keep them ----------------------------------------------


@pytest.fixture
def linked_clone(tmp_path: Path) -> Path:
    """The example with ``CLAUDE.md -> AGENTS.md``: a commit before the prompt existed, then two
    versions of AGENTS.md; PRs 101-102 ran before it, 103-106 on the first, the rest on the second."""
    root = tmp_path / "linked"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer", "CLAUDE.md"))
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Before prompts")
    bare = git(root, "rev-parse", "HEAD")
    (root / "AGENTS.md").write_text("# Rules\n\n- Write tests.\n")
    (root / "CLAUDE.md").symlink_to("AGENTS.md")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "First rules")
    first = git(root, "rev-parse", "HEAD")
    (root / "AGENTS.md").write_text("# Rules\n\n- Write tests.\n- Use Decimal for money.\n")
    git(root, "commit", "-q", "-am", "Learned rules")
    second = git(root, "rev-parse", "HEAD")
    for pr in sorted((root / "evidence").iterdir()):
        meta = json.loads((pr / "pr.json").read_text())
        number = meta["number"]
        meta["base_sha"] = bare if number <= 102 else first if number <= 106 else second
        (pr / "pr.json").write_text(json.dumps(meta))
    return root


def report_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()
    assert main(["report", "--format", "json", *args], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert isinstance(report, dict)
    return report


def test_a_linked_prompt_has_one_version_per_commit_of_its_file(
    linked_clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(linked_clone)
    report = report_json(capsys)
    versions = report["versions"]
    assert isinstance(versions, list)
    labels = [v["label"] for v in versions]
    assert labels == [
        "absent",
        git(linked_clone, "rev-parse", "--short=7", "HEAD~1"),
        git(linked_clone, "rev-parse", "--short=7", "HEAD"),
    ]
    assert [v["samples"] for v in versions] == [2, 4, 6]
    assert versions[0]["subject"] == "absent at the base commit"
    assert report["comparison"]["to"] == labels[-1]  # type: ignore[index]
    dates = [v["introduced_at"] for v in versions if v["introduced_at"]]
    assert dates == sorted(dates)
    capsys.readouterr()
    assert main(["report", "--history", "git"], env={}) == 0
    assert "(2 known)" in capsys.readouterr().out


def test_a_shallow_clone_says_its_history_is_unavailable(
    linked_clone: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{linked_clone}", str(shallow))
    (shallow / ".github").mkdir(exist_ok=True)
    shutil.copy(linked_clone / ".github" / "prompt-trainer.yml", shallow / ".github")
    monkeypatch.chdir(shallow)
    report = report_json(capsys)
    subjects = {v["subject"] for v in report["versions"]}  # type: ignore[attr-defined]
    assert "history unavailable (shallow clone)" in subjects
    assert any("shallow clone" in note for note in report["notes"])  # type: ignore[attr-defined]


def test_outside_git_versions_say_not_a_git_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "plain"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".prompt-trainer"))
    monkeypatch.chdir(root)
    report = report_json(capsys)
    assert {v["subject"] for v in report["versions"]} == {"not a git repository"}  # type: ignore[attr-defined]


def test_a_missing_prompt_file_blocks_only_its_target_in_report_and_versions(
    clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = clone / ".github" / "prompt-trainer.yml"
    text = config.read_text().replace("targets:\n", "targets:\n  - name: gone\n    main: GONE.md\n")
    config.write_text(text)
    monkeypatch.chdir(clone)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()
    assert main(["report", "--format", "json"], env={}) == 0
    reports = {r["target"]: r for r in json.loads(capsys.readouterr().out)}
    assert [v["samples"] for v in reports["coder"]["versions"]] == [6, 6]
    assert any("GONE.md is missing" in note for note in reports["gone"]["notes"])
    assert main(["versions", "--target", "coder"], env={}) == 0


# -- words that mean what they say ----------------------------------------------------------


def test_n_of_a_per_call_rate_says_tool_calls_and_of_others_samples() -> None:
    from prompt_trainer.measure.stats import Estimate  # noqa: PLC0415
    from prompt_trainer.render.report import estimate  # noqa: PLC0415

    per_call = estimate("agent.tool_error_rate", Estimate(0.25, 412, 0.2, 0.3))
    assert per_call.endswith("n=412 tool calls)")
    assert estimate("tests.pass_rate", Estimate(0.5, 8, 0.2, 0.8)).endswith("n=8)")


def test_better_or_worse_only_below_p_005() -> None:
    from prompt_trainer.measure.metrics import Comparison  # noqa: PLC0415
    from prompt_trainer.render.report import direction  # noqa: PLC0415

    def excluding_zero(p_value: float) -> Comparison:  # the interval alone says "changed"
        return Comparison(0.3, 0.01, 0.6, p_value, enough_data=True, n_from=9, n_to=9)

    assert direction("tests.pass_rate", excluding_zero(0.01)) == "better"
    assert direction("tests.pass_rate", excluding_zero(0.08)) == "·"
    assert direction("agent.turns", excluding_zero(0.01)) == "worse"


def test_agent_tokens_include_claude_codes_cache_tokens() -> None:
    claude = Trace(
        source="t.json",
        format="claude-code",
        input_tokens=10,
        output_tokens=5,
        cache_read_tokens=1000,
        cache_write_tokens=200,
    )
    codex = Trace(  # OpenAI counts cached tokens inside input_tokens already
        source="r.jsonl",
        format="codex-rollout",
        input_tokens=1010,
        output_tokens=5,
        cache_read_tokens=1000,
    )
    assert facts_of(sample("a", traces=(claude,))).tokens == 1215
    assert facts_of(sample("b", traces=(codex,))).tokens == 1015


def test_json_prints_zero_for_floating_point_noise() -> None:
    from prompt_trainer.measure.report import _clean  # noqa: PLC0415

    assert _clean(-2.220446049250313e-17) == 0.0 and _clean(0.25) == 0.25 and _clean(None) is None
    assert json.dumps(_clean(-1e-17)) == "0.0"


def test_report_json_has_no_floating_point_noise(
    clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(clone)
    report = report_json(capsys)
    numbers: list[float] = []

    def walk(value: object) -> None:
        if isinstance(value, float):
            numbers.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({k: v for k, v in report.items() if k != "comparison"})
    comparison = report["comparison"]
    assert isinstance(comparison, dict)
    for metric in comparison["metrics"].values():  # p-values may be truly tiny
        walk({k: v for k, v in metric.items() if k != "p_value"})
    assert numbers and not [x for x in numbers if x != 0 and abs(x) < 1e-12]


def test_report_help_shows_a_plain_percent(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"], env={})
    out = capsys.readouterr().out
    assert "95% intervals" in out and "95%%" not in out


def test_hashes_cached_by_an_older_release_are_computed_again(
    linked_clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before links were followed a linked file hashed as its link text: such a cache is not
    trusted."""
    cache = linked_clone / ".prompt-trainer" / "versions.json"
    cache.parent.mkdir()
    first, second = git(linked_clone, "rev-parse", "HEAD~1"), git(linked_clone, "rev-parse", "HEAD")
    cache.write_text(json.dumps({"coder": {first: "0" * 64, second: "1" * 64}}))
    monkeypatch.chdir(linked_clone)
    report = report_json(capsys)
    assert [v["samples"] for v in report["versions"]] == [2, 4, 6]  # type: ignore[attr-defined]
    assert json.loads(cache.read_text())["_format"] == 2
