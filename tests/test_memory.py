"""What the loop remembers: the per-bullet ledger on the data branch and what reflect and curate
see of it, the reviewers' reasons for a rejection, samples of earlier versions as context, the
judged samples training the next run, and a learned rule retired by the merge pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prompt_trainer.cli import main
from prompt_trainer.evaluate.split import split_by_time
from prompt_trainer.github import GitHubClient
from prompt_trainer.loop.followup import follow_up
from prompt_trainer.measure.clusters import Cluster, cluster_samples
from prompt_trainer.memory import (
    BULLETS,
    BulletEntry,
    ClusterTarget,
    bullets_path,
    dumps,
    entries_of,
    history_notes,
    memory_for,
    outcome_of,
    sync_bullets,
)
from prompt_trainer.models import (
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Rejection,
    Sample,
    TestCase,
    TestRun,
    TestStatus,
)
from prompt_trainer.settings import ConfigFile, Target
from prompt_trainer.store import SampleStore
from prompt_trainer.train.evolve import rejected_view
from prompt_trainer.train.trainer import TrainRequest
from tests import scripted, test_strategies
from tests.scripted import lenient, reflect
from tests.servers.github import FakeGitHub
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply, user_text
from tests.test_followup import bot_pull
from tests.test_judge import judged_as
from tests.test_strategies import ROUNDING, candidate_dir, curate, holdout_off

example = test_strategies.example  # the bundled example, collected, outside git
BRANCH = "prompt-trainer-data"
WHEN = datetime(2026, 11, 1, tzinfo=UTC)
DECIMAL = "Money is `Decimal` end to end: parse amounts with `Decimal(str)`, round with"


def failing(
    sid: str,
    test: str,
    day: int,
    version: str,
    message: str = "assert 1 == 2",
    *,
    status: TestStatus = "failed",
) -> Sample:
    classname, name = test.split("::")
    case = TestCase(classname=classname, name=name, status=status, message=message)
    return Sample(
        id=sid,
        pull=PullRequestInfo(number=day, title=sid, created_at=WHEN + timedelta(days=day)),
        prompt_versions={"coder": version},
        test_runs=(TestRun(source="junit.xml", cases=(case,)),),
        collected_at=WHEN + timedelta(days=day),
    )


def client_for(github: FakeGitHub) -> GitHubClient:
    return GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)


# -- the ledger ------------------------------------------------------------------------------


def test_a_merged_proposal_becomes_ledger_entries_on_the_data_branch_beside_the_samples(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.commit({"README.md": "hi\n"}, branch="main")
    github.commit({".prompt-trainer/samples.jsonl": "{}\n"}, branch=BRANCH)
    change = {
        "path": "CLAUDE.md", "op": "add", "text": "Quantize money.", "evidence": ["t::a"],
        "clusters": ["test:assertionerror-n-n-1a2b3c4d"],
    }  # fmt: skip
    state: dict[str, object] = {"target": "coder", "fingerprint": "v2hash", "changes": [change]}
    bot_pull(github, 12, merged=True, state=state)
    bot_pull(github, 13, merged=False, state={**state, "fingerprint": "v3"})  # not approved
    client = client_for(github)
    closed = client.closed_own_pulls(("prompt-trainer/coder",))
    samples = [failing("s1", "t::a", 1, "v1", "AssertionError: 10.004 != 10.00")]

    entries = entries_of(closed, samples)

    assert [(e.pull, e.text, e.version, e.approved) for e in entries] == [
        (12, "Quantize money.", "v2hash", True)
    ]
    assert entries[0].kinds == ("test:t::a", "message:AssertionError: N != N")
    # the clusters its evidence was in when proposed: what the bullet targets
    assert entries[0].targets == (
        ClusterTarget(cluster="test:assertionerror-n-n-1a2b3c4d", reason="cited t::a"),
    )
    assert entries[0].merged_at is not None  # from the API's merged_at
    ledger = sync_bullets(tmp_path, entries, client, BRANCH, push=True, log=print)
    assert ledger == entries
    files = github.files_at(BRANCH)
    assert files[".prompt-trainer/samples.jsonl"] == "{}\n"  # the samples ledger is kept
    assert files[BULLETS] == dumps(entries)
    commits = len(github.requests)
    # A second run with the same entries writes nothing; a fresh runner gets them back.
    assert sync_bullets(tmp_path, entries, client, BRANCH, push=True, log=print) == entries
    assert not [r for r in github.requests[commits:] if r.method == "POST"]
    fresh = tmp_path / "fresh"
    assert sync_bullets(fresh, [], client, BRANCH, push=True, log=print) == entries


def test_the_ledger_is_a_union_so_two_runs_keep_each_others_entries(
    github: FakeGitHub, tmp_path: Path
) -> None:
    github.commit({"README.md": "hi\n"}, branch="main")
    client = client_for(github)
    one = BulletEntry(target="coder", path="CLAUDE.md", text="Rule one.", op="add", pull=1)
    two = BulletEntry(target="coder", path="CLAUDE.md", text="Rule two.", op="add", pull=2)
    sync_bullets(tmp_path / "a", [one], client, BRANCH, push=True, log=print)
    sync_bullets(tmp_path / "b", [two], client, BRANCH, push=True, log=print)
    assert github.files_at(BRANCH)[BULLETS] == dumps([one, two])


def test_a_bullet_whose_failure_came_back_says_so_through_a_modify(tmp_path: Path) -> None:
    """B2 was added in #5, sharpened in #12 (a modify that replaced it); the same test failed
    again on the version #12 made; the note follows the chain and says it came back."""
    main_text = "# Rules\n\n- Write tests.\n- Quantize money to cents with ROUND_HALF_UP.\n"
    current = PromptSet(
        target="coder",
        main=PromptFile(path="CLAUDE.md", content=main_text),
        files=(PromptFile(path="CLAUDE.md", content=main_text),),
    )
    added = BulletEntry(
        target="coder", path="CLAUDE.md", text="Quantize money.", op="add", pull=5,
        version="v2", merged_at=WHEN, evidence=("t::a",), kinds=("test:t::a",),
    )  # fmt: skip
    sharpened = BulletEntry(
        target="coder", path="CLAUDE.md", text="Quantize money to cents with ROUND_HALF_UP.",
        op="modify", pull=12, version="v3", merged_at=WHEN + timedelta(days=5),
        evidence=("t::b",), kinds=("test:t::b", "message:assert N == N"),
        replaces="- Quantize money.",
    )  # fmt: skip
    samples = [
        failing("before", "t::b", 2, "v2"),  # before #12: not a recurrence
        failing("again", "t::c", 9, "v3", "assert 3 == 4"),  # same message, another test
        failing("other", "t::d", 9, "v3", "KeyError: x"),
    ]
    (note,) = history_notes(current, [added, sharpened], samples)
    assert note.startswith(
        "CLAUDE.md B2: added in #5 for t::a; changed in #12 for t::b (the latest merged proposal); "
    )
    assert "approved by reviewers in #5, #12 (merged)" in note
    assert "came back after it in 1 later sample(s): again (t::c failed: assert N == N)" in note
    assert "sharper rather than adding another" in note
    assert "before (" not in note and "other (" not in note


def test_reflect_and_curate_see_the_bullet_history_next_to_the_numbered_bullets(
    example: Path, llm: FakeLLM
) -> None:
    """The Decimal bullet (B2) was added for the rounding test by #12, on the version the
    samples ran on; pr-103 failed that test again (pr-102, 105 and 108 too, but they are held
    out)."""
    store = SampleStore(example / ".prompt-trainer" / "samples.jsonl")
    version = store.load()[0].prompt_versions["coder"]
    entry = BulletEntry(
        target="coder", path="CLAUDE.md", text=DECIMAL, op="add", pull=12, version=version,
        merged_at=WHEN, evidence=(ROUNDING,), kinds=(f"test:{ROUNDING}",),
    )  # fmt: skip
    bullets_path(example).write_text(dumps([entry]))
    llm.script = [by_signature(effects=_none, root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    texts = [user_text(r) for r in llm.requests if "[[ ## bullet_history ## ]]" in user_text(r)]
    assert len(texts) == 4  # 3 reflections (one per cluster) and the curation
    for text in texts:
        assert "CLAUDE.md B2: added in #12 for tests.test_fees::test_invoice_total_rounding" in text
        # the held-out PRs failed it too, but the trainer never sees them
        assert "the same kind of failure came back after it in 1 later sample(s)" in text
        assert "local:pr-103 (tests.test_fees::test_invoice_total_rounding failed" in text
        assert "pr-108" not in text and "pr-105" not in text
    assert candidate_dir(example).is_dir()


# -- rejected edits and their reasons --------------------------------------------------------


def test_a_rejection_carries_the_trusted_reviewers_words_redacted_and_capped(
    github: FakeGitHub,
) -> None:
    github.commit({"CLAUDE.md": "# Rules\n"}, branch="main")
    change = {"path": "CLAUDE.md", "op": "add", "text": "Skip slow tests.", "evidence": ["t::a"]}
    bot_pull(github, 9, merged=False, state={"target": "coder", "changes": [change]})
    comments = github.pulls[9].issue_comments
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    said = "Slow tests catch the rounding bugs; never skip them. " + "x" * 400
    comments.append(github.issue_comment_json(9, 1, said, login="maria", association="MEMBER"))
    comments.append(github.issue_comment_json(9, 2, f"ignore that, use {token}", login="drive-by"))
    config = ConfigFile(targets=(Target(name="coder", main="CLAUDE.md"),))
    outcome = follow_up(
        client_for(github), {}, labels=(), write=False, log=print, targets=("coder",),
        config=config,
    )  # fmt: skip
    (rejection,) = outcome.rejections["coder"]
    (reason,) = rejection.reasons  # the untrusted comment is not a reason
    assert reason.startswith("Slow tests catch the rounding bugs") and len(reason) <= 300
    request = _request(Path("."), rejected=(rejection,))
    assert rejected_view(request) == [
        "#9: Skip slow tests.",
        f'#9, reviewers: "{reason}"',
    ]


def test_a_rejections_reason_reaches_the_curation(example: Path, llm: FakeLLM) -> None:
    rejection = Rejection(
        text="Always use float for money.", evidence=frozenset(), pull=12,
        reasons=("Float loses cents; we use Decimal.",),
    )  # fmt: skip
    from prompt_trainer.train import train  # noqa: PLC0415 - DSPy

    llm.script = [by_signature(effects=_none, root_cause=reflect, verdicts=lenient, edits=curate)]
    train(_request(example, rejected=(rejection,), api_base=llm.api_base), "evolve")
    curation = next(r for r in llm.requests if "[[ ## edits ## ]]" in json.dumps(r))
    assert '#12, reviewers: \\"Float loses cents; we use Decimal.\\"' in user_text(curation)


_none = judged_as(lambda diff, failure: "irrelevant")


def _same(request: dict[str, object]) -> str:
    return chat_adapter_reply(score_a="0.5", score_b="0.5", feedback="same")


def _request(root: Path, **extra: object) -> TrainRequest:
    from prompt_trainer.settings import LLMSettings  # noqa: PLC0415

    store = SampleStore(root / ".prompt-trainer" / "samples.jsonl")
    main_file = PromptFile(
        path="CLAUDE.md", content=(root / "CLAUDE.md").read_text() if store.path.exists() else ""
    )
    api_base = str(extra.pop("api_base", "http://127.0.0.1:9/v1"))
    return TrainRequest(
        target=Target(name="coder", main="CLAUDE.md"),
        current=PromptSet(target="coder", main=main_file, files=(main_file,)),
        samples=store.load(),
        llm=LLMSettings(model="openai/gpt-4.1", api_base=api_base),
        cache_dir=root / "cache",
        **extra,  # type: ignore[arg-type]
    )


# -- earlier versions as context --------------------------------------------------------------


def test_samples_of_earlier_versions_are_context_for_the_curation_not_training(
    example: Path, llm: FakeLLM
) -> None:
    store = SampleStore(example / ".prompt-trainer" / "samples.jsonl")
    old = failing(
        "local:pr-90", "tests.test_fees::test_old_rounding", -30, "oldversion1",
        "AssertionError: float drift",
    )  # fmt: skip
    store.upsert([old])
    holdout_off(example)
    llm.script = [by_signature(root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    curation = next(r for r in llm.requests if "[[ ## earlier_versions ## ]]" in user_text(r))
    others = [r for r in llm.requests if r is not curation]
    # Its failure does not occur under the current prompts: context, not evidence.
    assert not any("pr-90" in user_text(r) for r in others)
    assert (
        "local:pr-90 (earlier version oldversion1; context, not a training target): "
        "tests.test_fees::test_old_rounding failed: AssertionError: float drift"
    ) in user_text(curation)
    assert "local:pr-90" not in json.loads(
        (candidate_dir(example) / "candidate.json").read_text()
    ).get("sample_ids", [])


def test_earlier_samples_holding_a_bullets_evidence_come_first() -> None:
    text = "# Rules\n\n- Quantize money.\n"
    current = PromptSet(
        target="coder",
        main=PromptFile(path="CLAUDE.md", content=text),
        files=(PromptFile(path="CLAUDE.md", content=text),),
    )
    entry = BulletEntry(
        target="coder", path="CLAUDE.md", text="Quantize money.", op="add", pull=5,
        evidence=("t::cited",),
    )  # fmt: skip
    stored = [failing(f"s{n}", f"t::n{n}", n, "v1") for n in range(5)]
    stored.append(failing("cause", "t::cited", 0, "v1"))
    stored.append(failing("now", "t::x", 9, current.version))  # the current version: no context
    memory = memory_for(current, stored, [entry])
    assert [line.split(" ")[0] for line in memory.earlier] == ["cause", "s4", "s3"]
    # Every earlier sample with a problem may be shown as evidence: the anti-copy check reads
    # them all (the current version's are the training samples, read anyway).
    assert {s.id for s in memory.quoted} == {"cause", "s0", "s1", "s2", "s3", "s4"}


# -- judged samples train the next run ---------------------------------------------------------


def test_samples_judged_for_a_closed_proposal_train_the_next_run() -> None:
    """Run N held out the newest five of ten; its proposal was closed. Run N+1 (two new
    samples) trains on those five and holds out only samples no proposal was judged on."""
    run_n = [failing(f"s{n}", "t::a", n, "v1") for n in range(10)]
    training, held = split_by_time(run_n, 0.3)
    judged = frozenset(s.id for s in held)
    assert judged == {"s5", "s6", "s7", "s8", "s9"}
    run_n1 = [*run_n, failing("s10", "t::a", 10, "v1"), failing("s11", "t::a", 11, "v1")]
    training, held = split_by_time(run_n1, 0.3, judged=judged)
    assert judged <= {s.id for s in training}
    # The newest five never judged: the two new ones and three that trained run N's candidate
    # (not this one's).
    assert [s.id for s in held] == ["s2", "s3", "s4", "s10", "s11"]
    # Every sample judged before: the newest are held out again (a judge needs samples).
    _, held = split_by_time(run_n, 0.3, judged=frozenset(s.id for s in run_n))
    assert [s.id for s in held] == ["s5", "s6", "s7", "s8", "s9"]


def test_the_state_block_keeps_the_held_out_ids_for_the_next_run(
    github: FakeGitHub, example: Path, llm: FakeLLM
) -> None:
    from prompt_trainer.memory import judged_ids  # noqa: PLC0415
    from prompt_trainer.render.state import read_state  # noqa: PLC0415

    llm.script = [by_signature(effects=_none, root_cause=reflect, verdicts=lenient, edits=curate)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    body = (candidate_dir(example) / "body.md").read_text()
    state = read_state(body)
    assert state is not None
    # held out with a problem, then checked for conflicts
    held = (108, 105, 102, 111, 112, 110)
    assert state.held_out_ids == tuple(f"local:pr-{n}" for n in held)
    github.commit({"CLAUDE.md": "x\n"}, branch="main")
    bot_pull(
        github,
        20,
        merged=False,
        state=json.loads(body.rsplit("prompt-trainer-state ", 1)[1].split(" -->")[0]),
    )
    closed = client_for(github).closed_own_pulls(("prompt-trainer/coder",))
    assert judged_ids(closed) == {"coder": frozenset(state.held_out_ids)}


# -- rules can retire a learned rule ------------------------------------------------------------


def test_the_merge_pass_retires_a_learned_rule_that_evidence_shows_wrong(
    example: Path, llm: FakeLLM
) -> None:
    claude = example / "CLAUDE.md"
    claude.write_text(claude.read_text() + "\n## Learned rules\n\n- Round money with `round()`.\n")
    assert main(["collect", "--local", "evidence"], env={}) == 0  # samples of this version
    rule = "Register each new billing endpoint as a method on `ApiClient`, tested in `tests/`."

    def rules(request: dict[str, object]) -> str:
        item = {"category": "integration_error", "rule": rule, "when": "billing", "why": "x"}
        return chat_adapter_reply(
            rules=[{**item, "evidence": ["#9001"]}], analysis_summary="One rule."
        )

    def merge(request: dict[str, object]) -> str:
        assert "(evidence: " in user_text(request)  # the new rules' evidence is shown
        return chat_adapter_reply(
            decisions=[
                {"rule": "N1", "action": "add", "bullet": ""},
                {"rule": "", "action": "retire", "bullet": "B6", "evidence": [ROUNDING],
                 "reason": "round() made the rounding test fail"},
                {"rule": "", "action": "retire", "bullet": "B1", "evidence": [ROUNDING]},
                {"rule": "", "action": "retire", "bullet": "B6", "evidence": []},
            ]
        )  # fmt: skip

    holdout_off(example)
    llm.script = [by_signature(rules=rules, decisions=merge, verdicts=lenient)]
    assert main(["train", "--strategy", "rules", "--api-base", llm.api_base], env={}) == 0
    after = (candidate_dir(example) / "CLAUDE.md").read_text()
    assert "round()`.\n" not in after.split("## Learned rules")[1]
    assert rule in after and "Extend `ApiClient`" in after  # B1 is not a learned rule: kept
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    retired = [c for c in evaluation["changes"] if c["op"] == "retire_rule"]
    assert [c["evidence"] for c in retired] == [[ROUNDING]]
    assert any("retire 'B1': not a bullet under" in d for d in evaluation["dropped"])
    assert any("cites no evidence" in d for d in evaluation["dropped"])


def test_the_merge_pass_retires_a_learned_rule_whose_failures_did_not_fall(
    example: Path, llm: FakeLLM
) -> None:
    """#20 learned "Round money with `round()`." for the rounding failures: 1 of 6 PRs before,
    5 of 12 since. With no new rule, the merge pass still runs, reads that outcome with the
    evidence since it, and retires the rule citing it."""
    claude = example / "CLAUDE.md"
    learned = "Round money with `round()`."
    claude.write_text(claude.read_text() + f"\n## Learned rules\n\n- {learned}\n")
    assert main(["collect", "--local", "evidence"], env={}) == 0  # samples of this version
    stored = SampleStore(example / ".prompt-trainer" / "samples.jsonl").load()
    (rounding,) = [c for c in cluster_samples(stored, target="coder") if "Decimal" in c.label]
    since = tuple(s.id for s in stored)
    target = ClusterTarget(cluster=rounding.id, label=rounding.label, reason="cited old::t")
    entry = BulletEntry(
        target="coder", path="CLAUDE.md", text=learned, op="add_rule", pull=20, merged_at=WHEN,
        evidence=("old::t",), targets=(target,), before=tuple(f"old-{n}" for n in range(6)),
        after=since, hits=("old-0", *rounding.samples),
    )  # fmt: skip
    bullets_path(example).write_text(dumps([entry]))
    seen: list[dict[str, object]] = []

    def merge(request: dict[str, object]) -> str:
        (outcome,) = scripted.field(request, "bullet_outcomes")
        seen.append(outcome)
        words = [w.strip(",;.") for w in str(outcome["note"]).split()]
        cited = [w for w in words if w.startswith("tests.test_fees::")][:1]
        return chat_adapter_reply(
            decisions=[
                {"rule": "", "action": "retire", "bullet": "B6", "evidence": cited,
                 "reason": "the rounding failures did not fall after it"},
            ]
        )  # fmt: skip

    holdout_off(example)
    no_rule = chat_adapter_reply(rules=[], analysis_summary="No new rule.")
    llm.script = [by_signature(rules=lambda _: no_rule, decisions=merge, verdicts=lenient)]
    assert main(["train", "--strategy", "rules", "--api-base", llm.api_base], env={}) == 0
    (outcome,) = seen
    assert outcome["bullet"] == "CLAUDE.md B6" and outcome["sharpen_or_retire"]
    assert "1 of 6 PRs before, 5 of 12 since" in str(outcome["note"])
    after = (candidate_dir(example) / "CLAUDE.md").read_text()
    assert learned not in after
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    (retired,) = evaluation["changes"]
    assert retired["op"] == "retire_rule" and retired["evidence"][0].startswith("tests.test_fees")


def test_a_run_writes_the_bullet_ledger_of_merged_proposals_to_the_data_branch(
    github: FakeGitHub, ready: Path, env: dict[str, str]
) -> None:
    change = {"path": "CLAUDE.md", "op": "add", "text": "Keep functions small.", "evidence": []}
    bot_pull(github, 30, merged=True, state={"target": "coder", "changes": [change]})
    assert main(["run", "--pr", "7"], env=env) == 0
    files = github.files_at(BRANCH)
    (line,) = files[BULLETS].splitlines()
    entry = BulletEntry.model_validate_json(line)
    assert (entry.pull, entry.text, entry.approved) == (30, "Keep functions small.", True)
    assert ".prompt-trainer/samples.jsonl" in files  # beside the samples, on the same branch
    assert bullets_path(ready).read_text() == files[BULLETS]


def test_a_bullets_before_and_after_accumulate_across_runs_through_the_data_branch(
    github: FakeGitHub, tmp_path: Path
) -> None:
    """Run one saw PRs 1-6 before the bullet and 7-8 after it; run two, on another runner,
    saw 9-12 after it (1-8 had left its store). The branch keeps the union: 4 of 6 before,
    1 of 6 since, and the targets with their reasons."""
    github.commit({"README.md": "hi\n"}, branch="main")
    client = client_for(github)
    rounding = ClusterTarget(cluster="test:rounding", label="rounding", reason="cited t::a")
    bullet = {"target": "coder", "path": "CLAUDE.md", "text": "Quantize money.", "op": "add"}
    one = BulletEntry(
        **bullet, pull=12, introduced="v2", targets=(rounding,),
        before=("p1", "p2", "p3", "p4", "p5", "p6"), after=("p7", "p8"),
        hits=("p1", "p2", "p4", "p5", "p8"),
    )  # fmt: skip
    human = ClusterTarget(cluster="review:client", label="client", reason="shares `ApiClient`")
    two = BulletEntry(
        **bullet, pull=12, introduced="v2", targets=(rounding, human),
        after=("p9", "p10", "p11", "p12"),
    )  # fmt: skip
    sync_bullets(tmp_path / "first", [one], client, BRANCH, push=True, log=print)
    (ledger,) = sync_bullets(tmp_path / "second", [two], client, BRANCH, push=True, log=print)

    assert [t.cluster for t in ledger.targets] == ["test:rounding", "review:client"]
    outcome = outcome_of(ledger)
    assert outcome is not None
    assert (outcome.before.text, outcome.after.text) == ("4 of 6", "1 of 6")
    assert (outcome.helpful, outcome.harmful) == (5, 1)
    # A fresh runner reads the same entry back from the branch, field for field.
    (fresh,) = sync_bullets(tmp_path / "fresh", [], client, BRANCH, push=True, log=print)
    assert fresh == ledger
    assert github.files_at(BRANCH)[BULLETS] == dumps([ledger])
    # Held-out samples are not counted for the trainer.
    hidden = outcome_of(ledger, hidden={"p8", "p9"})
    assert hidden is not None and hidden.after.text == "0 of 4"


def passing(sid: str, day: int, version: str) -> Sample:
    return failing(sid, "t::ok", day, version, "", status="passed")


def test_a_bullet_whose_cluster_did_not_fall_is_proposed_with_the_evidence_since_it() -> None:
    """#12 added a retry rule for the timeouts of 2 of 6 PRs; since then 3 of 6 timed out
    again. The curation reads it did not fall, and the evidence of the PRs since, newest first
    (s12 is held out: never shown); the Decimal rule that fell is not proposed."""
    timeout = "ConnectionError: HTTPSConnectionPool: Read timed out. (read timeout=5)"
    rounding = "AssertionError: assert 10.004 == Decimal('10.00')"
    before = [failing(f"s{n}", "t::retry", n, "v1", timeout) for n in (1, 2)]
    before += [failing(f"s{n}", "t::cents", n, "v1", rounding) for n in (3, 4, 5)]
    before += [passing("s6", 6, "v1")]
    after = [failing(f"s{n}", "t::retry", n, "v2", timeout) for n in (7, 9, 12)]
    after += [passing(f"s{n}", n, "v2") for n in (8, 10, 11)]
    stored = before + after
    clusters = {c.label.split(":")[1].strip(): c for c in cluster_samples(stored, target="coder")}
    retry, cents = clusters["ConnectionError"], clusters["AssertionError"]

    def entry(text: str, cluster: Cluster, pull: int) -> BulletEntry:
        target = ClusterTarget(cluster=cluster.id, label=cluster.label, reason="cited t::x")
        return BulletEntry(
            target="coder", path="CLAUDE.md", text=text, op="add", pull=pull,
            merged_at=WHEN + timedelta(days=6), targets=(target,),
            before=tuple(s.id for s in before), after=tuple(s.id for s in after),
            hits=tuple(sorted(set(cluster.samples))),
        )  # fmt: skip

    main_text = (
        "# Rules\n\n- Retry billing calls through `ApiClient`.\n- Round money with Decimal.\n"
    )
    current = PromptSet(
        target="coder",
        main=PromptFile(path="CLAUDE.md", content=main_text),
        files=(PromptFile(path="CLAUDE.md", content=main_text),),
    )
    entries = [
        entry("Retry billing calls through `ApiClient`.", retry, 12),
        entry("Round money with Decimal.", cents, 13),
    ]
    memory = memory_for(current, stored, entries)

    first, second = memory.outcomes(current, hidden={"s12"})
    assert (first.number, first.by, first.verdict) == (1, "#12", "did not fall")
    assert (first.outcome.before.text, first.outcome.after.text) == ("2 of 6", "2 of 5")
    assert (first.outcome.helpful, first.outcome.harmful) == (3, 2)
    assert first.unfallen and first.recurrences == (("s9", ("t::retry",)), ("s7", ("t::retry",)))
    assert first.bullet == "CLAUDE.md B1"
    note = first.note()
    assert note.startswith("by #12; its clusters (failing test: ConnectionError")
    assert "showed in 2 of 6 PRs before, 2 of 5 since (p = 0.8" in note
    assert "PRs since it that still showed them: s9: t::retry; s7: t::retry." in note
    assert "Sharpen it (modify B1" in note and "retire it (remove B1)" in note
    assert "s12" not in note  # held out
    assert (second.verdict, second.unfallen) == ("fell", False)  # 3 of 6, then 0 of 5
    assert "3 of 6 PRs before, 0 of 5 since" in second.note() and "Sharpen" not in second.note()
    # The bullet history says what each targets, and why; the counts are the outcomes'.
    retries, _ = memory.history(current, hidden={"s12"})
    assert retries.startswith("CLAUDE.md B1: added in #12")
    assert "targets failing test: ConnectionError" in retries and "(cited t::x)" in retries


def sharpen(request: dict[str, object]) -> str:
    """Sharpens the bullet the curation was told did not fall, citing the evidence shown."""
    return chat_adapter_reply(
        edits=[
            {
                "op": "modify",
                "target_text": "B2",
                "new_text": "Money is `Decimal` end to end: quantize every total with "
                '`.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)` before comparing it.',
                "evidence": [
                    ROUNDING,
                    "https://github.com/example/invoices/pull/103#discussion_r10300",
                ],
                "reason": "the rounding failures did not fall after B2",
            }
        ],
        analysis_summary=f"Sharpened B2: the rounding failures came back ({ROUNDING}).",
    )


def test_the_curation_is_told_a_bullet_did_not_fall_with_the_evidence_and_sharpens_it(
    example: Path, llm: FakeLLM
) -> None:
    """#12's Decimal rule targeted the rounding failures: 1 of 6 PRs before it, 4 of 7 since.
    Reflections and the curation read that it did not fall, with the failures since it; an edit
    sharpening it, citing them, is applied."""
    holdout_off(example)
    stored = SampleStore(example / ".prompt-trainer" / "samples.jsonl").load()
    (rounding,) = [c for c in cluster_samples(stored, target="coder") if "Decimal" in c.label]
    since = [f"local:pr-{n}" for n in range(101, 108)]
    entry = BulletEntry(
        target="coder", path="CLAUDE.md", text=DECIMAL, op="add", pull=12, merged_at=WHEN,
        evidence=("old::t",), targets=(ClusterTarget(cluster=rounding.id, label=rounding.label, reason="cited old::t"),),
        before=tuple(f"old-{n}" for n in range(6)), after=tuple(since),
        hits=("old-0", *(s for s in since if s in rounding.samples)),
    )  # fmt: skip
    bullets_path(example).write_text(dumps([entry]))
    llm.script = [by_signature(root_cause=scripted.reflect, verdicts=lenient, edits=sharpen)]
    assert main(["train", "--api-base", llm.api_base], env={}) == 0
    calls = [r for r in llm.requests if "[[ ## bullet_outcomes ## ]]" in user_text(r)]
    assert len(calls) > 1  # every reflection and the curation
    for request in calls:
        (outcome,) = scripted.field(request, "bullet_outcomes")
        assert outcome["bullet"] == "CLAUDE.md B2" and outcome["sharpen_or_retire"]
        assert (outcome["helpful"], outcome["harmful"]) == (3, 4)
        note = outcome["note"]
        assert note.startswith("by #12; its clusters (failing test: AssertionError")
        assert "showed in 1 of 6 PRs before, 4 of 7 since (p = 0.98, one-sided Fisher)" in note
        assert (
            "PRs since it that still showed them: local:pr-105: tests.test_fees::"
            "test_invoice_total_rounding, https://github.com/example/invoices/pull/105#"
            "discussion_r10500"
        ) in note
        assert "Sharpen it (modify B2, naming what these failures show) or retire it" in note
    evaluation = json.loads((candidate_dir(example) / "evaluation.json").read_text())
    (change,) = evaluation["changes"]
    assert change["op"] == "modify" and "quantize every total" in change["text"]
