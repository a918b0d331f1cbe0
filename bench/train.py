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
local OpenAI-compatible server of the test suite (scripted replies, no network). Target:
``evolve`` over 10 samples in at most 25 calls.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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
    """The view as ``train/evidence.py`` at ``revision`` built it (with its own fit_budget)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/prompt_trainer/train/evidence.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location("baseline_evidence", handle.name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_evidence"] = module  # pydantic resolves its annotations there
    spec.loader.exec_module(module)
    return lambda s: module.fit_budget(module.evidence_view(s), 4000).model_dump(mode="json")


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


def replies() -> object:
    return by_signature(
        effects=judge_edits,  # first: the judge's request names an input "edits"
        root_cause=reflect,
        verdicts=lenient,
        edits=lambda r: chat_adapter_reply(
            edits=[
                {
                    "op": "add",
                    "new_text": "Quantize money with `Decimal.quantize` in `invoices/fees.py`.",
                    "evidence": shown_tests(r),
                }
            ],
            analysis_summary="x",
        ),
        rules=lambda r: chat_adapter_reply(
            rules=[
                {
                    "category": "test_failure",
                    "rule": "Quantize money with `Decimal.quantize` in `invoices/fees.py`.",
                    "when": "money",
                    "why": "rounding",
                    "evidence": ["tests.test_fees::test_0"],
                }
            ],
            analysis_summary="x",
        ),
        candidate_main_prompt=lambda r: chat_adapter_reply(
            candidate_main_prompt="# Rules\n\n- Quantize money with `Decimal.quantize` in `invoices/fees.py`.\n",
            candidate_subagents=[],
            analysis_summary=f"Added the quantize rule ({', '.join(shown_tests(r))}).",
        ),
        decisions=lambda r: chat_adapter_reply(
            decisions=[{"rule": "N1", "action": "add"}], analysis_summary="x"
        ),
    )


def shown_tests(request: dict[str, Any]) -> list[str]:
    """The evidence a request shows (failing tests, review comments): what a curation cites."""
    found = re.findall(
        r'"id": "(tests\.test_fees::test_\d+|https://[^"]+discussion_r\d+)"', user_text(request)
    )
    return list(dict.fromkeys(found))[:2]


def judge_edits(request: dict[str, Any]) -> str:
    """The per-edit judge: "prevents" for an edit naming quantize on a Decimal failure,
    "irrelevant" otherwise (and on PRs without a problem)."""
    text = user_text(request)

    def field(name: str) -> Any:
        part = text.split(f"[[ ## {name} ## ]]", 1)[1].split("[[ ## ", 1)[0]
        return json.loads(part.split("\n\nRespond with", 1)[0].strip())

    failures = field("failures") or [{"ref": "-", "what": ""}]
    verdicts = [
        {
            "edit": edit["ref"],
            "failure": failure["ref"],
            "verdict": "prevents"
            if "Quantize" in edit["diff"] and "Decimal" in failure["what"]
            else "irrelevant",
        }
        for edit in field("edits")
        for failure in failures
    ]
    return chat_adapter_reply(effects=verdicts)


def request_tokens(request: dict[str, Any]) -> int:
    return sum(len(str(m.get("content", ""))) // 4 for m in request["messages"])


def evaluation_columns(requests: list[dict[str, Any]], candidate: Any) -> str:
    """The evaluation's share of the calls and of the input tokens, and each edit's result."""
    judged = [r for r in requests if "[[ ## effects ## ]]" in str(r["messages"][0]["content"])]
    share = sum(map(request_tokens, judged)) / max(sum(map(request_tokens, requests)), 1)
    result = candidate.evaluation
    edits = "; ".join(f"D{e.edit} {e.summary}: {e.outcome}" for e in result.edits) if result else ""
    return f"evaluation {len(judged)} of {len(requests)} calls, {share:.0%} of input tokens" + (
        f"; {edits}" if edits else ""
    )


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
                + evaluation_columns(llm.requests[before:], candidate)
            )
    finally:
        llm.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--traces", type=Path, default=ROOT.parent / "shared" / "realdata" / "traces"
    )
    parser.add_argument("--baseline", metavar="REV", help="also show the view at this revision")
    args = parser.parse_args()
    viewers: dict[str, Viewer] = {}
    if args.baseline:
        viewers["before"] = baseline_view(args.baseline)
    viewers["now"] = current_view
    if args.traces.is_dir():
        recall(args.traces, viewers)
    else:
        print(f"(1) skipped: {args.traces} not found")
    calls_per_strategy()


if __name__ == "__main__":
    main()
