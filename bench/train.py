"""Trainer benchmark: what the model is shown (against hand-labelled facts), and LM calls.

Run with ``.venv/bin/python bench/train.py [--traces DIR] [--baseline REV]`` (default traces:
``../shared/realdata/traces``; ``--baseline 81355f7`` compares with the view before issue 18).

(1) Recall of ground truth: ``bench/evidence_facts.json`` holds facts a prompt engineer would
want the model to see (the failing command and its output, the false claim, the loop, the
reviewer's point), written by hand with file and position, for every real trace and every PR of
the bundled example. For each, the view training sends (``evidence_view`` then ``fit_budget`` at
the default 4,000 tokens) is searched for the fact's needles; printed: facts recalled and tokens
(``estimate_tokens``: JSON characters / 4), per sample and in total, for this tree and, with
``--baseline``, for ``train/evidence.py`` at that revision (loaded with ``git show``).
(2) LM calls of each strategy on 10 samples with failing tests and review comments, against the
local OpenAI-compatible server of the test suite (scripted replies, no network), with the
evaluation's share of the calls and input tokens and each edit's held-out result. Target:
``evolve`` over 10 samples in at most 25 calls.
(3) ``evolve`` on copies of the example's PRs (10, 30, 100; ``--baseline`` compares a revision).
(4) ``evolve`` and ``gepa`` on the same stored PRs (30 and 100 of six kinds): calls by kind,
tokens, clusters reflected on and given an edit, GEPA's search, each edit's held-out result.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scripted import lenient, reflect  # noqa: E402
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply, user_text  # noqa: E402

from prompt_trainer.collect.local import collect_directory  # noqa: E402
from prompt_trainer.collect.traces import parse_trace  # noqa: E402
from prompt_trainer.models import (  # noqa: E402
    Feedback,
    PromptFile,
    PromptSet,
    PullRequestInfo,
    Sample,
    TestCase,
    TestRun,
    Trace,
)
from prompt_trainer.settings import LLMSettings, Settings, Target  # noqa: E402
from prompt_trainer.targets import LocalSource, load_prompt_set  # noqa: E402
from prompt_trainer.train import TrainRequest, train  # noqa: E402
from prompt_trainer.train.budget import fit_budget  # noqa: E402
from prompt_trainer.train.evidence import evidence_view  # noqa: E402

FACTS = ROOT / "bench" / "evidence_facts.json"
EXAMPLE = ROOT / "examples" / "basic"
#: A sample -> the JSON-ready dump of the view the model would be sent for it.
Viewer = Callable[[Sample], dict[str, Any]]


def current_view(sample: Sample) -> dict[str, Any]:
    return fit_budget(evidence_view(sample), 4000).model_dump(mode="json")


def baseline_view(revision: str) -> Viewer:
    """The view as ``train/evidence.py`` at ``revision`` built it, cut by that revision's
    ``fit_budget`` (in ``evidence.py`` before issue 18, in ``train/budget.py`` after)."""
    evidence = _load(revision, "evidence", "baseline_evidence")
    if hasattr(evidence, "fit_budget"):
        fit = evidence.fit_budget
    else:
        fit = _load(revision, "budget", "baseline_budget").fit_budget
    return lambda s: fit(evidence.evidence_view(s), 4000).model_dump(mode="json")


def _load(revision: str, name: str, as_name: str) -> Any:
    """``train/<name>.py`` at ``revision`` as module ``as_name`` (its import of the evidence
    module pointed at the baseline's)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/prompt_trainer/train/{name}.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace("from prompt_trainer.train.evidence import", "from baseline_evidence import")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location(as_name, handle.name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[as_name] = module  # pydantic resolves its annotations there
    spec.loader.exec_module(module)
    return module


def texts(value: Any) -> list[str]:
    """Every string in a JSON value (keys too), for searching."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (str(k), *texts(v))]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return [str(value)] if value is not None else []


def recalled(fact: dict[str, Any], view: dict[str, Any]) -> bool:
    text = "\n".join(texts(view)).lower()
    if not all(n.lower() in text for n in fact["needles"]):
        return False
    kind = fact.get("kind")
    return not kind or any(e.get("kind") == kind for e in view.get("trace_events", []))


def tokens(view: dict[str, Any]) -> int:
    return len(json.dumps(view)) // 4


def trace_sample(path: Path) -> Sample | None:
    trace = parse_trace(path, source=path.name, max_bytes=300 * 2**20, max_text=2000)
    if not isinstance(trace, Trace):
        return None
    return Sample(
        id=path.name, pull=PullRequestInfo(), traces=(trace,), collected_at=datetime.now(UTC)
    )


def example_samples() -> dict[str, Sample]:
    settings = Settings.load(EXAMPLE / ".github" / "prompt-trainer.yml", {}, root=EXAMPLE)
    found = collect_directory(EXAMPLE / "evidence", settings=settings, versions={})
    return {s.id: s for s in found}


def recall(traces: Path, viewers: dict[str, Viewer]) -> None:
    labels = json.loads(FACTS.read_text())
    print("(1) recall of hand-labelled facts in the view sent (default budget: 4,000 tokens)")
    names = list(viewers)
    head = "".join(f" {n + ' facts':>14} {n + ' tok':>10}" for n in names)
    print(f"{'sample':58}{head}")
    totals = {n: [0, 0, 0] for n in names}  # recalled, facts, tokens
    rows: list[tuple[str, Sample | None, list[dict[str, Any]]]] = []
    for entry in labels["traces"]:
        rows.append((entry["file"], trace_sample(traces / entry["file"]), entry["facts"]))
    examples = example_samples()
    for entry in labels["example"]:
        rows.append((entry["sample"], examples.get(entry["sample"]), entry["facts"]))
    for name, sample, facts in rows:
        if sample is None:
            print(f"{name[:58]:58} (not parsed)")
            continue
        cells = []
        for viewer in names:
            view = viewers[viewer](sample)
            hits = sum(recalled(f, view) for f in facts)
            size = tokens(view)
            totals[viewer][0] += hits
            totals[viewer][1] += len(facts)
            totals[viewer][2] += size
            cells.append(f" {f'{hits}/{len(facts)}':>14} {size:>10,}")
        print(f"{name[-58:]:58}{''.join(cells)}")
    for viewer, (hits, count, size) in totals.items():
        print(
            f"{viewer}: {hits} of {count} facts recalled ({hits / max(count, 1):.0%}), "
            f"{size:,} tokens over {len(rows)} samples ({size // max(len(rows), 1):,} a sample)"
        )


def samples(n: int) -> list[Sample]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        Sample(
            id=f"o/r#{k}",
            pull=PullRequestInfo(number=k, closed_at=start + timedelta(hours=k)),
            test_runs=(
                TestRun(
                    source="junit.xml",
                    cases=(
                        TestCase(
                            classname="tests.test_fees",
                            name=f"test_{k}",
                            status="failed",
                            message="AssertionError: 10.004999 != Decimal('10.00')",
                        ),
                    ),
                    plain_passes=50,
                ),
            ),
            feedback=(
                Feedback(
                    kind="review_comment",
                    id=f"c{k}",
                    author="maria",
                    trusted=True,
                    body="Use Decimal and quantize.",
                    url=f"https://github.com/o/r/pull/{k}#discussion_r{k}",
                ),
            ),
            collected_at=start,
        )
        for k in range(n)
    ]


MONEY_RULE = "Round money with `quantize(Decimal('0.01'))`, never `round()`."


def replies() -> object:
    return by_signature(
        effects=judge_edits,  # first: the judge's request names an input "edits"
        root_cause=reflect,
        verdicts=lenient,
        edits=lambda r: chat_adapter_reply(
            edits=[{"op": "add", "new_text": MONEY_RULE, "evidence": shown(r)}],
            analysis_summary="x",
        ),
        rules=lambda r: chat_adapter_reply(
            rules=[
                {
                    "category": "test_failure",
                    "rule": MONEY_RULE,
                    "when": "money",
                    "why": "rounding",
                    "evidence": ["tests.test_fees::test_0"],
                }
            ],
            analysis_summary="x",
        ),
        decisions=lambda r: chat_adapter_reply(decisions=[]),
        candidate_main_prompt=lambda r: chat_adapter_reply(
            candidate_main_prompt=f"# Rules\n\n- Write tests.\n- {MONEY_RULE}\n",
            candidate_subagents=[],
            analysis_summary=f"- new: {MONEY_RULE} (tests.test_fees::test_0)",
        ),
        score_a=lambda r: chat_adapter_reply(score_a="0.5", score_b="0.8", feedback="ok"),
    )


def shown(request: dict[str, Any]) -> list[str]:
    """The evidence a curation is shown (failing tests, review comments): what it cites."""
    found = re.findall(
        r'"id": "(tests\.test_fees::test_\d+|https://[^"]+discussion_r\d+)"', user_text(request)
    )
    return list(dict.fromkeys(found))[:2] or ["tests.test_fees::test_0"]


def judge_edits(request: dict[str, Any]) -> str:
    """The per-edit judge, answering as a discerning model: "prevents" where the edit names
    what the failure is about (a Decimal or rounding failure and a rule on money, a second
    client and a rule on ``ApiClient``, a timeout and a rule on retries), "irrelevant"
    elsewhere and on PRs without a problem."""
    text = user_text(request)

    def field(name: str) -> Any:
        part = text.split(f"[[ ## {name} ## ]]", 1)[1].split("[[ ## ", 1)[0]
        return json.loads(part.split("\n\nRespond with", 1)[0].strip())

    failures = field("failures") or [{"ref": "-", "what": ""}]
    effects = [
        {
            "edit": edit["ref"],
            "failure": failure["ref"],
            "verdict": "prevents" if prevents(edit["diff"], failure["what"]) else "irrelevant",
        }
        for edit in field("edits")
        for failure in failures
    ]
    return chat_adapter_reply(effects=effects)


def prevents(diff: str, failure: str) -> bool:
    pairs = (("quantize", ("Decimal", "round")), ("ApiClient", ("AttributeError", "client")),
             ("retr", ("ConnectionError", "timed out")))  # fmt: skip
    return any(rule in diff and any(w in failure for w in words) for rule, words in pairs)


def request_tokens(request: dict[str, Any]) -> int:
    return sum(len(str(m.get("content", ""))) for m in request["messages"]) // 4


def evaluation_columns(requests: list[dict[str, Any]], results: list[str]) -> str:
    """The evaluation's share of the calls and of the input tokens, and each edit's result."""
    judged = [r for r in requests if kind(r) in ("evaluate", "judge")]
    share = sum(map(request_tokens, judged)) / max(sum(map(request_tokens, requests)), 1)
    return f"evaluation {len(judged)} of {len(requests)} calls, {share:.0%} of input tokens" + (
        f"; {'; '.join(results)}" if results else ""
    )


def edit_results(candidate: Any) -> list[str]:
    """``D1 prevents 4 of 4 ... p = 0.014: effective`` per edit, or the pairwise verdict."""
    result = candidate.evaluation
    if result is None:
        return []
    if getattr(result, "judge", "pairwise") != "per-edit":
        return [f"pairwise: {result.verdict} ({result.wins} better, {result.losses} worse)"]
    if result.skipped:
        return [f"not evaluated: {result.skipped}"]
    return [f"D{e.edit} {e.summary}: {e.outcome}" for e in result.edits]


def calls_per_strategy() -> None:
    print("\n(2) LM calls per strategy, 10 samples, local LM server (per-edit judge)")
    main = PromptFile(path="CLAUDE.md", content="# Rules\n\n- Write tests.\n")
    current = PromptSet(target="coder", main=main, files=(main,))
    llm = FakeLLM()
    try:
        llm.script = [replies()]  # type: ignore[list-item]
        for strategy in ("evolve", "rules", "rewrite"):
            before = len(llm.requests)
            with tempfile.TemporaryDirectory() as cache:
                request = TrainRequest(
                    target=Target(name="coder", main="CLAUDE.md"),
                    current=current,
                    samples=samples(10),
                    llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
                    cache_dir=Path(cache),
                    holdout=0.3,
                )
                (candidate,) = train(request, strategy)
            made = len(llm.requests) - before
            print(
                f"{strategy:8} {made:3} calls, {candidate.usage.input_tokens:,} input + "
                f"{candidate.usage.output_tokens:,} output tokens, "
                f"${candidate.usage.cost_usd or 0:.4f} at gpt-4.1 prices; "
                + evaluation_columns(llm.requests[before:], edit_results(candidate))
            )
    finally:
        llm.close()


# -- (3) learning from failure clusters -------------------------------------------------------

#: Evidence ids the scripted curation looks for in what it is shown, per kind of failure, and
#: the edit a model would write for it: for the rounding failures, the rule B2 already states
#: said again with the test that catches it (it sharpens B2); for the second client, B1
#: sharpened with the client the reviewers rejected; for the timeouts, a new rule.
KNOWN_FIXES = (
    (
        ("tests.test_fees::test_invoice_total_rounding", "tests.test_fees::test_late_fee_rounding"),
        {"op": "add", "new_text": 'Money is `Decimal` end to end: parse with `Decimal(str)`, '
         'round with `quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)`; never `float` or '
         "`round()`. Run `pytest tests/test_fees.py` before you push."},
    ),
    (
        ("tests.test_billing::test_sync_uses_api_client",
         "tests.test_fees::test_late_fee_uses_billing_client"),
        {"op": "modify", "target_text": "B1", "new_text": "The service lives in `invoices/`; its "
         "HTTP client for the billing API is `invoices/api_client.py`. Extend `ApiClient` for new "
         "billing calls; never create a second HTTP client. A `BillingHttpClient` in "
         "`invoices/billing.py` or `invoices/payments.py` is such a second client."},
    ),
    (
        ("tests.test_api_client::test_timeout_is_retried",),
        {"op": "add", "new_text": "Call the billing API through `ApiClient`'s retry wrapper; it "
         "retries timeouts."},
    ),
)  # fmt: skip
CAREFUL = "Always be careful and write correct code."
#: The rule B2 states, said again: the reflex of a model that saw B2 ignored.
B2_AGAIN = (
    'Money is `Decimal` end to end: parse with `Decimal(str)`, round with `quantize(Decimal("0.01"), '
    "rounding=ROUND_HALF_UP)`; never `float` or `round()`."
)
START = datetime(2026, 11, 1, tzinfo=UTC)
DECIMAL_FOR_TIMEOUT = "Store VAT rates as `Decimal` constants in `invoices/vat.py`."


def old_reflect(request: dict[str, Any]) -> str:
    """The reflection before issue 25 (one sample, ``what_went_wrong``): cites the first
    failing test and the first review comment it is shown."""
    text = user_text(request)
    cited = re.findall(r'"id": ?"(tests\.[^"]+)"', text)[:1]
    cited += re.findall(r'"id": ?"(https://github\.com/[^"]+)"', text)[:1]
    return chat_adapter_reply(
        what_went_wrong="Amounts were computed with float.", implicated="CLAUDE.md B2",
        evidence=cited,
    )  # fmt: skip


def model_curation(request: dict[str, Any]) -> str:
    """One edit per kind of failure whose evidence it is shown, citing it, and three junk edits
    a model also writes: B2 said again, a platitude citing a PR's task, a Decimal rule citing
    the timeout."""
    text = user_text(request)
    edits = [
        {**edit, "evidence": [next(i for i in ids if i in text)]}
        for ids, edit in KNOWN_FIXES
        if any(i in text for i in ids)
    ]
    if KNOWN_FIXES[0][0][0] in text:
        edits.append({"op": "add", "new_text": B2_AGAIN, "evidence": [KNOWN_FIXES[0][0][0]]})
    shown = re.findall(r"(local:pr-\d+)", text)
    if shown:
        edits.append({"op": "add", "new_text": CAREFUL, "evidence": [f"{shown[0]}:task"]})
    if KNOWN_FIXES[2][0][0] in text:
        edits.append(
            {"op": "add", "new_text": DECIMAL_FOR_TIMEOUT, "evidence": [KNOWN_FIXES[2][0][0]]}
        )
    return chat_adapter_reply(edits=edits, analysis_summary="Edits for what recurs.")


def learning_replies() -> object:
    return by_signature(
        effects=judge_edits,  # first: the judge's request names an input "edits"
        what_went_wrong=old_reflect,
        root_cause=reflect,
        verdicts=lenient,
        edits=model_curation,
        score_a=lambda r: chat_adapter_reply(score_a="0.6", score_b="0.7", feedback="B."),
    )


def copies(n: int) -> tuple[list[Sample], str]:
    """``n`` PRs copied from the bundled example's twelve (numbers 1000...), all on the current
    prompts, and that version."""
    settings = Settings.load(EXAMPLE / ".github" / "prompt-trainer.yml", {}, root=EXAMPLE)
    version = load_prompt_set(settings.target("coder"), LocalSource(EXAMPLE)).version
    base = sorted(example_samples().values(), key=lambda s: (s.pull.closed_at, s.id))
    out = []
    for k in range(n):
        sample, number = base[k % len(base)], 1000 + k
        shift = timedelta(days=14 * (k // len(base)))
        old = f"/pull/{sample.pull.number}#"
        pull = sample.pull.model_copy(
            update={"number": number, "url": f"https://github.com/example/invoices/pull/{number}",
                    "closed_at": (sample.pull.closed_at or START) + shift}
        )  # fmt: skip
        feedback = tuple(
            f.model_copy(update={"id": f"{f.id}-{number}",
                                 "url": (f.url or "").replace(old, f"/pull/{number}#")})
            for f in sample.feedback
        )  # fmt: skip
        update = {"id": f"local:pr-{number}", "pull": pull, "feedback": feedback,
                  "prompt_versions": {"coder": version}}  # fmt: skip
        out.append(sample.model_copy(update=update))
    return out, version


def learning_run(n: int, holdout: float = 0.3) -> dict[str, Any]:
    """``evolve`` on ``n`` copied PRs with the default budget (25 calls), against the local LM
    server: every request sent, and what the candidate kept and dropped (JSON, so that the code
    of another revision can produce it in a subprocess)."""
    samples, version = copies(n)
    settings = Settings.load(EXAMPLE / ".github" / "prompt-trainer.yml", {}, root=EXAMPLE)
    target = settings.target("coder")
    current = load_prompt_set(target, LocalSource(EXAMPLE))
    assert current.version == version
    llm = FakeLLM()
    llm.script = [learning_replies()]  # type: ignore[list-item]
    try:
        with tempfile.TemporaryDirectory() as cache:
            request = TrainRequest(
                target=target, current=current, samples=samples, holdout=holdout,
                llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
                cache_dir=Path(cache),
            )  # fmt: skip
            (candidate,) = train(request, "evolve")
    finally:
        llm.close()
    return {
        "requests": llm.requests,
        "changes": [_change(c.op, c.text, c.replaces) for c in candidate.changes],
        "dropped": list(candidate.dropped),
        "trained_on": list(candidate.sample_ids),
        "evaluation": edit_results(candidate),
    }


def _change(op: str, text: str, replaces: str) -> str:
    """A kept edit as the "kept" column shows it: a modify that keeps its bullet and appends
    to it as ``sharpened: +<what it appends>``."""
    old = re.sub(r"^[-*+] ", "", " ".join(replaces.split()))
    new = " ".join(text.split())
    if op in ("modify", "refine_rule") and old and new.startswith(old):
        return f"sharpened: +{new[len(old) :].strip()}"
    return text


def kind(request: dict[str, Any]) -> str:
    """reflect, curate, check, evaluate (per edit) or judge (pairwise): by the output fields
    the request asks for."""
    system = str(request["messages"][0]["content"]).split("Your output fields are:")[-1]
    for name, what in (("effects", "evaluate"), ("what_went_wrong", "reflect"),
                       ("root_cause", "reflect"), ("verdicts", "check"), ("edits", "curate"),
                       ("score_a", "judge")):  # fmt: skip
        if f"[[ ## {name} ## ]]" in system:
            return what
    return "other"


def reflected_samples(request: dict[str, Any]) -> list[str]:
    """The sample ids a reflection request shows (the samples, not the cited ids)."""
    text = user_text(request).split("[[ ## prompt_files ## ]]")[0]
    return [i for i in re.findall(r'\{"id": ?"(local:pr-\d+)"', text)]


def summarize_run(n: int, run: dict[str, Any], holdout: float) -> dict[str, str]:
    """Calls by kind, clusters covered, samples reflected on, tokens per request, survivors."""
    from prompt_trainer.measure.clusters import cluster_samples  # noqa: PLC0415 - not in old revisions

    samples, _ = copies(n)
    trained = set(run["trained_on"])
    clusters = cluster_samples([s for s in samples if s.id in trained])
    calls: dict[str, list[int]] = {}
    seen: set[str] = set()
    for request in run["requests"]:
        size = sum(len(str(m.get("content", ""))) for m in request["messages"]) // 4
        calls.setdefault(kind(request), []).append(size)
        if kind(request) == "reflect":
            seen.update(reflected_samples(request))
    covered = [c for c in clusters if seen & set(c.samples)]
    problems = {i for c in clusters for i in c.samples}
    order = ("reflect", "curate", "check", "evaluate", "judge", "other")
    return {
        "calls": " + ".join(f"{len(calls[k])} {k}" for k in order if k in calls),
        "clusters": f"{len(covered)}/{len(clusters)}",
        "samples": f"{len(seen & problems)}/{len(problems)}",
        "tokens": ", ".join(f"{k} {sum(calls[k]) // len(calls[k]):,}" for k in order if k in calls),
        "kept": "; ".join(t[:48] for t in run["changes"]) or "nothing",
        "dropped": str(len(run["dropped"])),
        "evaluation": evaluation_columns(run["requests"], run.get("evaluation", [])),
    }


def baseline_run(revision: str, n: int, holdout: float) -> dict[str, Any]:
    """``learning_run(n)`` with the package and prompts of ``revision`` (``git archive`` into a
    temporary directory outside the repository; this tree's tests/ and bench/ drive it)."""
    with tempfile.TemporaryDirectory(prefix="prompt-trainer-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "archive", revision, "src", "prompts"], cwd=ROOT, capture_output=True,
            check=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": f"{tmp}/src{os.pathsep}{ROOT}"}
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--run-learning", str(n),
             "--holdout", str(holdout)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    return dict(json.loads(out))


def learning(baseline: str | None) -> None:
    for holdout, what in (
        (0.3, "default budget (25 calls; the held-out evaluation reserves its share first)"),
        (0.0, "the training's share alone (training.holdout: 0, 25 calls)"),
    ):
        print(
            f"\n(3) evolve on copies of the example's PRs, {what}; scripted replies written "
            "like a model's (junk edits included, a lenient check)"
        )
        for n in (10, 30, 100):
            runs = {"now": learning_run(n, holdout)}
            if baseline:
                runs = {"before": baseline_run(baseline, n, holdout), **runs}
            for name, run in runs.items():
                row = summarize_run(n, run, holdout)
                print(
                    f"{n:3} PRs {name:6} calls: {row['calls']}; clusters reflected on: "
                    f"{row['clusters']}; samples with a problem seen: {row['samples']}\n"
                    f"{'':14}tokens/request: {row['tokens']}\n"
                    f"{'':14}kept: {row['kept']} | dropped: {row['dropped']}\n"
                    f"{'':14}{row['evaluation']}"
                )


# -- (4) evolve and gepa on the same stored samples ---------------------------------------------

SECTIONED = (
    "# Working on the invoice service\n\n- The service lives in `invoices/`.\n\n"
    "## Money\n\n- Money is `Decimal` end to end.\n\n"
    "## HTTP\n\n- The billing API's client is `invoices/api_client.py`.\n\n"
    "## Workflow\n\n- Write tests with pytest under `tests/`.\n"
)


def strategy_run(strategy: str, n: int, *, max_calls: int, metric_calls: int) -> dict[str, Any]:
    """``strategy`` on ``n`` synthetic PRs of six kinds (``tests.synthetic``) against the local
    LM server with careful scripted answers (a reflection and a curation that write the fix
    for each kind they are shown, a discerning per-failure judge): what it cost and found."""
    from tests.scripted import curate_fixes, judge_fixes, revise  # noqa: PLC0415
    from tests.synthetic import six_clusters  # noqa: PLC0415

    from prompt_trainer.settings import GepaOptions  # noqa: PLC0415

    main_file = PromptFile(path="CLAUDE.md", content=SECTIONED)
    current = PromptSet(target="coder", main=main_file, files=(main_file,))
    stored = [
        s.model_copy(update={"prompt_versions": {"coder": current.version}})
        for s in six_clusters(n)
    ]
    llm = FakeLLM()
    llm.script = [  # type: ignore[list-item]
        by_signature(effects=judge_fixes(), new_text=revise, root_cause=reflect,
                     verdicts=lenient, edits=curate_fixes)
    ]  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as cache:
            request = TrainRequest(
                target=Target(name="coder", main="CLAUDE.md"), current=current, samples=stored,
                llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
                cache_dir=Path(cache), max_calls=max_calls, holdout=0.3,
                gepa=GepaOptions(max_metric_calls=metric_calls), state_dir=Path(cache) / "s",
            )  # fmt: skip
            (candidate,) = train(request, strategy)
    finally:
        llm.close()
    return {"requests": llm.requests, "candidate": candidate}


def compare(n: int, runs: list[tuple[str, int, int]]) -> None:
    """One line per (strategy, max_calls, max_metric_calls) on the same ``n`` PRs."""
    for strategy, max_calls, metric_calls in runs:
        run = strategy_run(strategy, n, max_calls=max_calls, metric_calls=metric_calls)
        candidate = run["candidate"]
        kinds: dict[str, int] = {}
        for request in run["requests"]:
            name = gepa_kind(request)
            kinds[name] = kinds.get(name, 0) + 1
        clusters = candidate.clusters
        reflected = sum(1 for c in clusters if c.reflected)
        edited = len({c.cluster for c in candidate.changes})
        budget = f"max_calls {max_calls}" + (
            f", max_metric_calls {metric_calls}" if strategy == "gepa" else ""
        )
        search = candidate.search
        found = (
            f"; search: {search.tried} tried, {search.kept} kept, {search.metric_calls} metric "
            f"calls, {len(search.winners)} winner(s)"
            if search
            else ""
        )
        print(
            f"{n:3} PRs {strategy:6} ({budget}): {len(run['requests'])} calls "
            f"({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
            f"{candidate.usage.input_tokens:,} input + {candidate.usage.output_tokens:,} output "
            f"tokens; clusters reflected on {reflected}/{len(clusters)}, with an edit "
            f"{edited}/{len(clusters)}{found}\n{'':8}"
            + "; ".join(edit_results(candidate) or ["no edit"])
        )


def gepa_kind(request: dict[str, Any]) -> str:
    """reflect (a cluster or a section), curate, check, judge (metric or held-out)."""
    system = str(request["messages"][0]["content"]).split("Your output fields are:")[-1]
    for name, what in (("effects", "judge"), ("new_text", "reflect"), ("root_cause", "reflect"),
                       ("edits", "curate"), ("verdicts", "check")):  # fmt: skip
        if f"[[ ## {name} ## ]]" in system:
            return what
    return "other"


def evolve_and_gepa() -> None:
    print(
        "\n(4) evolve and gepa on the same stored PRs (six kinds of failure, tests/synthetic.py),"
        " a main file with sections; careful scripted answers, a discerning judge"
    )
    for n in (30, 100):
        compare(n, [("evolve", 25, 0), ("evolve", 100, 0), ("gepa", 100, 60), ("gepa", 200, 150)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--traces", type=Path, default=ROOT.parent / "shared" / "realdata" / "traces"
    )
    parser.add_argument(
        "--baseline", metavar="REV", help="also show the view and the learning at this revision"
    )
    parser.add_argument("--run-learning", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--holdout", type=float, default=0.3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_learning:  # one learning run, as JSON (for --baseline, in a subprocess)
        print(json.dumps(learning_run(args.run_learning, args.holdout)))
        return
    viewers: dict[str, Viewer] = {}
    if args.baseline:
        viewers["before"] = baseline_view(args.baseline)
    viewers["now"] = current_view
    if args.traces.is_dir():
        recall(args.traces, viewers)
    else:
        print(f"(1) skipped: {args.traces} not found")
    calls_per_strategy()
    learning(args.baseline)
    evolve_and_gepa()


if __name__ == "__main__":
    main()
