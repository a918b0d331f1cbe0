"""Train stage, before any call: what a training run would cost, said by a run without an LLM key.

Takes the training options, the model id, the stored samples and each target's current prompt
set; returns a ``Projection`` per target that has enough samples: the LM calls the strategy would
make (capped by ``training.max_calls``), the input and output tokens, and the dollars when the
model's list price is known. It is an estimate, from the same pieces a run uses: each sample's
evidence view fitted to ``training.max_evidence_tokens`` (``train.budget``), the prompt files,
DSPy's framing, and the held-out split the run makes (``evaluate.heldout`` per failure cluster,
or ``evaluate.split`` for the pairwise judge). No DSPy and no LiteLLM import: the price is read
from the JSON price table LiteLLM ships, without importing LiteLLM (about 4 s).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prompt_trainer.evaluate.heldout import plan_held_out
from prompt_trainer.evaluate.split import held_count, when
from prompt_trainer.measure.clusters import cluster_samples
from prompt_trainer.models import PromptSet, Sample
from prompt_trainer.settings import LLMSettings, Settings, Target, TrainingOptions
from prompt_trainer.targets import current_prompt_sets
from prompt_trainer.train.budget import fit_budget
from prompt_trainer.train.evidence import estimate_tokens, evidence_view

#: DSPy's framing of one request (field headers, the output format), in tokens.
FRAMING_TOKENS = 750
#: Tokens of the edits (as diffs) and failures one per-edit judge call shows.
EDITS_TOKENS = 300
#: Tokens one answer takes (a reflection, a list of edits, two judge scores).
OUTPUT_TOKENS = 600
PRICE_TABLE = "model_prices_and_context_window_backup.json"
#: Metric calls of one GEPA iteration, about: the minibatch twice and a small validation set.
GEPA_CALLS_PER_ITERATION = 9


@dataclass(frozen=True)
class Projection:
    """One target's projected training run."""

    target: str
    samples: int
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float | None


def project(
    target: Target,
    current: PromptSet,
    stored: list[Sample],
    *,
    options: TrainingOptions,
    model: str,
) -> Projection | None:
    """The run ``target`` would get on its current prompts; None with too few samples."""
    samples = [s for s in stored if s.prompt_versions.get(current.target) == current.version]
    if len(samples) < max(options.min_samples, 1):
        return None
    training, judged = _split(samples, options)
    prompt = sum(len(f.content) for f in current.files) // 4 + FRAMING_TOKENS
    train_views = [_tokens(s, options) for s in training]
    strategy = options.strategy_for(target)
    calls, tokens = _strategy(strategy, train_views, prompt, options)
    if options.judge == "pairwise":  # both orders, both prompt sets
        calls += 2 * len(judged)
        tokens += sum(2 * (_tokens(s, options) + 2 * prompt) for s in judged)
    else:  # one call per held-out PR: its evidence, the current prompts, the edits
        calls += len(judged)
        tokens += sum(_tokens(s, options) + prompt + EDITS_TOKENS for s in judged)
    calls *= max(options.candidates, 1)
    tokens *= max(options.candidates, 1)
    if calls > options.max_calls:
        tokens = tokens * options.max_calls // calls
        calls = options.max_calls
    output = calls * OUTPUT_TOKENS
    price = price_per_token(model)
    usd = tokens * price[0] + output * price[1] if price else None
    return Projection(target.name, len(samples), calls, tokens, output, usd)


def _split(samples: list[Sample], options: TrainingOptions) -> tuple[list[Sample], list[Sample]]:
    """(training, judged): the split the run's judge makes (``evaluate.heldout`` per cluster,
    or the newest fraction for the pairwise judge)."""
    if options.holdout <= 0:
        return samples, []
    if options.judge == "pairwise":
        held = held_count(len(samples), options.holdout)
        ordered = sorted(samples, key=lambda s: (when(s), s.id))
        return ordered[: len(ordered) - held], ordered[len(ordered) - held :]
    plan = plan_held_out(
        samples, cluster_samples(samples), max_calls=options.max_calls,
        candidates=options.candidates,
    )  # fmt: skip
    return plan.training, [*plan.held_out, *plan.checked]


def _tokens(sample: Sample, options: TrainingOptions) -> int:
    return estimate_tokens(fit_budget(evidence_view(sample), options.max_evidence_tokens))


def _strategy(
    strategy: str, views: list[int], prompt: int, options: TrainingOptions
) -> tuple[int, int]:
    """(calls, input tokens) of the strategy's own calls on the training samples' views."""
    if strategy == "evolve":  # one reflection per sample, then one curation of them all
        return len(views) + 1, sum(v + prompt for v in views) + prompt + 200 * len(views)
    if strategy == "gepa":  # every metric call may be asked, a reflection per minibatch
        return _search(views, prompt, options.gepa.max_metric_calls)
    shared = min(sum(views), 2 * options.max_evidence_tokens)  # one call shows every sample
    if strategy == "rules":  # root causes, then the merge pass
        return 2, shared + 2 * prompt
    return 1, shared + 2 * prompt  # rewrite: the files in, the files out


def _search(views: list[int], prompt: int, metric_calls: int) -> tuple[int, int]:
    """GEPA's calls at most: each metric call one judge call (a view, the prompts, the diffs),
    and one reflection per iteration (about ``GEPA_CALLS_PER_ITERATION`` metric calls each)."""
    if not views:
        return 0, 0
    view = sum(views) // len(views)
    reflections = max(1, metric_calls // GEPA_CALLS_PER_ITERATION)
    judge = metric_calls * (view + prompt + EDITS_TOKENS)
    return metric_calls + reflections, judge + reflections * (3 * view + 2 * prompt)


def price_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token from LiteLLM's bundled price table, when it knows the
    model (with or without its provider prefix)."""
    table = _price_table()
    for name in (model, model.split("/", 1)[-1]):
        info = table.get(name)
        if isinstance(info, dict):
            inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
            if isinstance(inp, int | float) and isinstance(out, int | float):
                return float(inp), float(out)
    return None


@cache
def _price_table() -> dict[str, object]:
    spec = importlib.util.find_spec("litellm")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_TABLE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(projections: list[Projection], *, model: str) -> str:
    """One clause per projected target, for the keyless run's closing message."""
    parts = []
    for p in projections:
        cost = f", about ${p.usd:.2f} at {model}'s list price" if p.usd is not None else ""
        parts.append(
            f"{p.target} ({p.samples} samples): up to {p.calls} LLM calls, "
            f"~{p.input_tokens:,} input + ~{p.output_tokens:,} output tokens{cost}"
        )
    return "training would cost " + "; ".join(parts) if parts else ""


def keyless(
    settings: Settings,
    llm: LLMSettings,
    targets: list[Target],
    stored: list[Sample],
    stored_note: bool,
) -> str:
    """What a run without an LLM key ends with: why nothing was trained (and that the evidence
    was stored), then what training ``targets`` would cost."""
    current = current_prompt_sets(settings.root, tuple(targets))
    options = settings.config.training
    found = [
        p
        for t in targets
        if (p := project(t, current[t.name], stored, options=options, model=llm.model))
    ]
    note = "; evidence was stored" if stored_note else ""
    described = describe(found, model=llm.model)
    return f"{llm.missing}{note}" + (
        f". {described[0].upper()}{described[1:]}" if described else ""
    )
