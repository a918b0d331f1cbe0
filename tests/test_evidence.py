"""The evidence view (``train.evidence``), its budget (``train.budget``) and its offline preview
(``prompt-trainer evidence``): causes in front of the model, within a hard cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prompt_trainer.cli import main
from prompt_trainer.collect.evidence import PATCH_CHARS, clean_pull
from prompt_trainer.models import (
    CommitInfo,
    Feedback,
    FileChange,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
    Trace,
    TraceStep,
)
from prompt_trainer.settings import LLMSettings, Target
from prompt_trainer.train import TrainRequest, train
from prompt_trainer.train.budget import REQUEST_FACTOR, fit_budget, fit_request
from prompt_trainer.train.evidence import (
    Event,
    estimate_tokens,
    evidence_ids,
    evidence_view,
    resolve_refs,
)
from tests.scenarios import arrange
from tests.scripted import lenient, reflect
from tests.servers.github import FakeGitHub, Issue
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "basic"
WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def word(n: int) -> str:
    """A different word per number (digits would be normalised away: one group)."""
    return "".join(chr(97 + int(d)) for d in str(n))


def sample(**fields: object) -> Sample:
    return Sample.model_validate({"id": "o/r#1", "pull": {}, "collected_at": WHEN, **fields})


def trace(*steps: TraceStep, result: str | None = None, is_error: bool = False) -> Trace:
    return Trace(
        source="t.jsonl", format="claude-code", steps=steps, result=result, is_error=is_error
    )


# -- the bundled example ------------------------------------------------------------------------


def test_pr_101_shows_the_edit_that_created_the_client_and_the_review_against_it(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()

    assert main(["evidence", "pr-101", "--json"], env={}) == 0

    (line,) = capsys.readouterr().out.splitlines()
    shown = json.loads(line)
    assert shown["sample"] == "local:pr-101" and shown["tokens"] <= 4000 and shown["cut"] == []
    view = shown["view"]
    (edit,) = [e for e in view["trace_events"] if e["kind"] == "edit"]
    assert "class BillingHttpClient" in edit["text"] and edit["ref"].startswith("E")
    assert edit["id"] == "trace:pr-101/claude-execution-output.json#3"
    review = view["review_feedback"][0]
    assert review["id"].endswith("#discussion_r9001") and review["ref"] == "E1"
    assert "extend it instead of creating" in review["text"]
    assert "always approve" not in line  # the untrusted drive-by comment stays out


def test_evidence_without_ids_shows_every_sample_of_the_current_prompts(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()

    assert main(["evidence"], env={}) == 0

    out = capsys.readouterr().out
    assert out.count("\n== local:pr-") + out.startswith("== local:pr-") == 12
    assert "tokens (of" in out


def test_evidence_for_an_unknown_sample_says_how_to_get_it(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evidence", "pr-999"], env={}) == 2
    assert "no stored sample matches pr-999" in capsys.readouterr().err


# -- what each part of the view holds ---------------------------------------------------------------


def test_three_hundred_tests_failing_on_one_import_error_are_one_group() -> None:
    cases = tuple(
        TestCase(name=f"test_{n}", status="error", message=f"ImportError: no name 'x' (line {n})")
        for n in range(300)
    )
    odd = TestCase(name="test_odd", status="failed", message="AssertionError: 1 != 2")
    view = evidence_view(sample(test_runs=[TestRun(source="j.xml", cases=(*cases, odd))]))

    big, small = view.failure_groups
    assert (big.count, big.tests, small.count) == (300, ["test_0", "test_1", "test_2"], 1)
    assert {"test_0", "test_odd"} <= evidence_ids([view])


def test_trace_events_hold_errors_with_the_step_before_loops_edits_and_the_last_message() -> None:
    steps = (
        TraceStep(role="assistant", tool="Bash", tool_input='{"command": "make"}'),
        TraceStep(role="tool", tool="Bash", text="make: *** No rule", is_error=True),
        *[TraceStep(role="assistant", tool="Read", tool_input='{"path": "a.py"}')] * 3,
        TraceStep(role="assistant", tool="Write", tool_input='{"file_path": "b.py"}'),
        TraceStep(role="assistant", text="All tests pass, done."),
    )
    view = evidence_view(sample(traces=[trace(*steps)]))

    kinds = {e.kind: e for e in view.trace_events}
    assert kinds["error"].before == 'assistant/Bash: {"command": "make"}'
    assert (kinds["loop"].tool, kinds["loop"].times) == ("Read", 3)
    assert kinds["edit"].text == '{"file_path": "b.py"}'
    assert kinds["last_message"].text == "All tests pass, done."  # a false claim is a lesson


def test_a_run_that_ended_in_error_leads_the_view() -> None:
    failed = trace(
        TraceStep(role="assistant", text="hm"),
        result="Agent reached maximum iteration",
        is_error=True,
    )
    view = evidence_view(sample(traces=[failed]))
    assert view.terminal_errors[0].text == "Agent reached maximum iteration"
    assert view.terminal_errors[0].ref == "E1"


def test_reviews_keep_their_hunk_suggestion_and_a_dispute_by_the_author() -> None:
    comment = Feedback(
        kind="review_comment",
        id="review-comment-5",
        author="maria",
        trusted=True,
        body="Use the existing client.\n```suggestion\nclient = ApiClient()\n```",
        path="billing.py",
        line=14,
        diff_hunk="@@ -1,3 +1,14 @@\n" + "+x\n" * 400 + "+class BillingHttpClient:",
        suggestions=("client = ApiClient()",),
        url="https://github.com/o/r/pull/1#discussion_r5",
    )
    reply = Feedback(
        kind="review_comment",
        id="review-comment-6",
        author="claude[bot]",
        body="The new client is needed for retries.",
        in_reply_to="review-comment-5",
    )
    pull = PullRequestInfo(author="claude[bot]")
    view = evidence_view(sample(pull=pull, feedback=[comment, reply]))

    (note,) = view.review_feedback  # the untrusted reply is not shown, only its effect
    assert note.suggestions == ["client = ApiClient()"] and note.disputed
    assert note.hunk is not None and note.hunk.endswith("+class BillingHttpClient:")
    assert len(note.hunk) <= 600


def test_the_human_fix_is_the_patch_of_commits_after_the_agents_last_one() -> None:
    fix = FileChange(path="billing.py", additions=1, deletions=9, patch="-class BillingHttpClient:")
    logo = FileChange(path="logo.png", note="no patch (binary or too large for the API)")
    commits = (
        CommitInfo(sha="a" * 40, author="claude[bot]"),
        CommitInfo(sha="b" * 40, author="maria", by_agent=False, files=(fix, logo)),
    )
    pull = PullRequestInfo(commits=commits, body="Add fees. Fixes #3")
    view = evidence_view(sample(pull=pull))

    patch, binary = view.human_fix
    assert patch.id == f"commit:{'b' * 12}:billing.py" and patch.diff == fix.patch
    assert binary.diff == "" and binary.note and "binary" in binary.note
    assert view.task is not None and view.task.body == "Add fees. Fixes #3"


def test_bad_input_gives_a_smaller_view_with_notes() -> None:
    huge = FileChange(path="big.sql", additions=90_000, patch="+insert;\n" * 600_000)  # ~5 MB
    commits = (CommitInfo(sha="c" * 40, author="dev", by_agent=False, files=(huge,)),)
    pull = clean_pull(PullRequestInfo(commits=commits), limit=2000)
    hunkless = Feedback(
        kind="review_comment", id="r", author="m", trusted=True, body="No.", path="a"
    )
    silent = trace(TraceStep(role="assistant", tool="Bash", tool_input="ls"))

    view = evidence_view(sample(pull=pull, feedback=[hunkless], traces=[silent]))

    stored = pull.commits[0].files[0]
    assert stored.patch is not None and len(stored.patch) < PATCH_CHARS + 100 and stored.note
    assert "the PR has no description" in view.notes
    assert "1 review comment(s) without a diff hunk" in view.notes
    assert "trace t.jsonl: no final result or last message" in view.notes
    assert estimate_tokens(view) < 1500


def test_short_refs_resolve_to_full_ids_only_where_unambiguous() -> None:
    one = evidence_view(
        sample(test_runs=[TestRun(source="j", cases=(TestCase(name="a", status="failed"),))])
    )
    two = one.model_copy(update={"id": "o/r#2"})

    assert resolve_refs([one], ["E1", "E9", "x"]) == ["a", "E9", "x"]
    assert resolve_refs([one, two], ["E1", "o/r#2/E1"]) == ["E1", "a"]


# -- the budget -------------------------------------------------------------------------------------


def test_a_request_with_many_samples_stays_within_twice_the_cap() -> None:
    cases = tuple(
        TestCase(name=f"t{n}", status="failed", message=f"Error {word(n)}: " + "x" * 400)
        for n in range(60)
    )
    views = [
        evidence_view(sample(id=f"o/r#{k}", test_runs=[TestRun(source="j", cases=cases)]))
        for k in range(12)
    ]

    shown, note = fit_request(views, max_evidence_tokens=4000, fixed_tokens=1500)

    assert sum(estimate_tokens(v) for v in shown) <= REQUEST_FACTOR * 4000 - 1500
    assert len(shown) == 12 or (note and "left out" in note)
    assert all(v.cut for v in shown)  # each was cut to its share, and says so


def test_the_cap_holds_for_a_sample_with_300_failures_and_a_12k_review() -> None:
    cases = tuple(
        TestCase(name=f"t{n}", status="failed", message=f"case {word(n)} differs: " + "y" * 300)
        for n in range(300)
    )
    review = Feedback(
        kind="review",
        id="r1",
        author="m",
        trusted=True,
        state="CHANGES_REQUESTED",
        body="z" * 12_000,
    )
    view = evidence_view(sample(test_runs=[TestRun(source="j", cases=cases)], feedback=[review]))

    fitted = fit_budget(view, 4000)

    assert estimate_tokens(fitted) <= 4000 < estimate_tokens(view)
    assert fitted.review_feedback[0].text.startswith("zzz")  # ranked above failures: kept
    assert any("failure groups" in c for c in fitted.cut)


# -- end to end over the local GitHub server ------------------------------------------------------


def test_body_issue_files_review_hunk_with_suggestion_and_rework_reach_the_view(
    github: FakeGitHub,
    checkout: Path,
    github_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arrange(github)
    pull = github.pulls[7]
    pull.body = "Add late fees to invoices.\n\nFixes #3"
    github.issues[3] = Issue(number=3, title="Late fees", body="Charge 1% a day after 30 days.")
    pull.files = [
        ("billing.py", 40, 0, "@@ -0,0 +1,40 @@\n+class BillingHttpClient:"),
        ("logo.png", 0, 0, None),
    ]
    comment = pull.review_comments[1]
    comment["body"] = "Reuse ApiClient.\n```suggestion\nclient = ApiClient()\n```"
    comment["diff_hunk"] = "@@ -0,0 +1,3 @@\n+class BillingHttpClient:"
    fix_sha = "f1" * 20
    pull.commits = [(pull.head_sha, "claude[bot]", "claude[bot]"), (fix_sha, "maria", "Maria")]
    github.commit_patches[fix_sha] = [
        (
            "billing.py",
            1,
            40,
            "@@ -1,40 +1 @@\n-class BillingHttpClient:\n+from api_client import ApiClient",
        )
    ]
    monkeypatch.chdir(checkout)

    assert main(["collect", "--pr", "7"], env=github_env) == 0
    capsys.readouterr()
    assert main(["evidence", "7", "--json"], env=github_env) == 0

    view = json.loads(capsys.readouterr().out)["view"]
    assert (
        view["task"]["body"].startswith("Add late fees")
        and "Charge 1% a day" in view["task"]["issue"]
    )
    assert [f["id"] for f in view["changed_files"]] == ["file:billing.py", "file:logo.png"]
    suggested = [r for r in view["review_feedback"] if r.get("suggestions")]
    (reuse,) = [r for r in suggested if "ApiClient" in r["text"]]
    assert reuse["suggestions"] == ["client = ApiClient()"]
    assert reuse["hunk"].endswith("+class BillingHttpClient:")
    assert view["review_feedback"][: len(suggested)] == suggested  # suggestions rank first
    (fix,) = view["human_fix"]
    assert fix["id"] == f"commit:{fix_sha[:12]}:billing.py" and "+from api_client" in fix["diff"]


@pytest.mark.parametrize("strategy", ["evolve", "rules", "rewrite"])
def test_no_request_is_over_8000_tokens_on_default_settings(
    strategy: str, llm: FakeLLM, tmp_path: Path
) -> None:
    cases = tuple(
        TestCase(name=f"t{n}", status="failed", message=f"case {word(n)}: " + "y" * 300)
        for n in range(300)
    )
    review = Feedback(kind="review", id="r1", author="m", trusted=True, body="z" * 12_000)
    samples = [
        sample(
            id=f"o/r#{k}",
            pull={"closed_at": WHEN.replace(day=k + 1)},
            test_runs=[TestRun(source="j", cases=cases)],
            feedback=[review],
        )
        for k in range(12)
    ]
    llm.script = [
        by_signature(
            root_cause=reflect,
            verdicts=lenient,
            edits=lambda r: chat_adapter_reply(edits=[], analysis_summary="none"),
            rules=lambda r: chat_adapter_reply(rules=[], analysis_summary="none"),
            candidate_main_prompt=lambda r: chat_adapter_reply(
                candidate_main_prompt="# Rules\n", candidate_subagents=[], analysis_summary="x"
            ),
            score=lambda r: chat_adapter_reply(score=0.5, feedback="ok"),
        )
    ]
    main_file = PromptFile(path="CLAUDE.md", content="# Rules\n\n- Write tests.\n")
    request = TrainRequest(
        target=Target(name="coder", main="CLAUDE.md"),
        current=PromptSet(target="coder", main=main_file, files=(main_file,)),
        samples=samples,
        llm=LLMSettings(model="openai/test", api_base=llm.api_base),
        cache_dir=tmp_path / "cache",
        holdout=0.3,
    )

    train(request, strategy)

    sizes = [sum(len(str(m["content"])) for m in r["messages"]) // 4 for r in llm.requests]
    assert sizes and max(sizes) <= 8000, sizes


FACTS = Path(__file__).resolve().parents[1] / "bench" / "evidence_facts.json"


def test_every_hand_labelled_fact_of_the_bundled_example_is_in_its_view(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()
    assert main(["evidence", "--json", *[f"pr-{n}" for n in range(101, 113)]], env={}) == 0
    views = {v["sample"]: v for v in map(json.loads, capsys.readouterr().out.splitlines())}

    for entry in json.loads(FACTS.read_text())["example"]:
        text = "\n".join(strings(views[entry["sample"]]["view"]))
        for fact in entry["facts"]:
            assert (EXAMPLE.parents[1] / fact["file"]).is_file(), fact
            assert all(n in text for n in fact["needles"]), (entry["sample"], fact["what"])


def strings(value: object) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in strings(v)]
    if isinstance(value, list):
        return [t for v in value for t in strings(v)]
    return [value] if isinstance(value, str) else []


def test_a_short_task_outlasts_dozens_of_tool_calls_under_budget_pressure() -> None:
    """42 trace events (the agent's tool calls and edits), a task of under 100 characters and
    a failing test, at a budget that holds about half of it: tool calls and edits go first;
    the task and the failure stay whole (the task used to be cut whole, before any event)."""
    body = "Add a late fee of 1% a day to overdue invoices; round the fee to cents."
    view = evidence_view(
        sample(
            pull={"title": "Late fees", "body": body},
            test_runs=[
                TestRun(source="j", cases=(TestCase(name="t", status="failed", message="boom"),))
            ],
        )
    )
    events = [
        Event(id=f"trace:run.json#{k}", ref=f"E{10 + k}", kind="call" if k % 2 else "edit",
              tool="Bash", text=f'{{"command": "ls dir{k} {"x" * 150}"}}')
        for k in range(42)
    ]  # fmt: skip
    many = view.model_copy(update={"trace_events": events})
    fitted = fit_budget(many, estimate_tokens(many) // 2)
    assert estimate_tokens(fitted) <= estimate_tokens(many) // 2
    assert fitted.task is not None and fitted.task.body == body
    assert fitted.failure_groups == many.failure_groups
    assert 0 < len(fitted.trace_events) < 42
    kept = [e.id for e in fitted.trace_events]
    assert kept == [e.id for e in events[: len(kept)]]  # shortened, then cut from the end
    assert any(c.startswith("trace events (tool calls and edits):") for c in fitted.cut)
