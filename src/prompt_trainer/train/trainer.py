"""The ``PromptTrainer`` DSPy signature and the call that turns evidence into a ``Candidate``.

Inputs are typed: the evidence of each sample (``train.evidence``), the current main prompt and
subagents, and ``max_subagents``. Outputs are typed too: the candidate main prompt, subagents to
add or change (kebab-case name, description, prompt) and an analysis summary. The signature's
instructions are this repository's ``prompts/trainer.md``, read at run time, so the bot can train
its own instructions. The LM is passed explicitly through ``dspy.context`` (no global
configuration); DSPy's disk cache lives under ``.prompt-trainer/cache`` so an identical rerun is
free. The cache directory travels between workflow runs (``actions/cache``), so it is opened with
DSPy's restricted unpickler: only LiteLLM/OpenAI response types load, and an entry that names
anything else is dropped (and the call made again) instead of run. DSPy and LiteLLM errors are
translated into ``LLMError`` here. Transient LM errors are retried ``LM_RETRIES`` times, waiting
``backoff_s x 2^(n+1)`` seconds (or the provider's Retry-After), so the caller sets the backoff
(DSPy's own retry has a fixed 1 s, 2 s...).

Every request carries ``max_tokens`` and ``temperature`` (0 unless a call asks otherwise). DSPy's
hidden JSON-mode second request on a parse failure is switched off (``ADAPTER``); ``ask`` instead
makes one repair request (the broken answer and what was wrong with it) when the budget allows,
and otherwise returns None: that call's contribution is lost, never the run. So every request
the trainer sends is in the LM's history, where the budget counts it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import dspy
from dspy.utils.exceptions import (
    AdapterParseError,
    DSPyError,
    LMAuthError,
    LMTransportError,
    is_retryable_lm_error,
)
from pydantic import BaseModel, ConfigDict, Field

from prompt_trainer.errors import LLMError
from prompt_trainer.memory import Memory
from prompt_trainer.models import (
    Candidate,
    PromptFile,
    PromptSet,
    Rejection,
    Replayed,
    Sample,
    Subagent,
    TokenUsage,
)
from prompt_trainer.redact import mask_held
from prompt_trainer.settings import GepaOptions, LLMSettings, Target
from prompt_trainer.targets import render_subagent, subagent_name_problem, subagent_path
from prompt_trainer.train.budget import fit_request
from prompt_trainer.train.edits import numbered, unnumbered
from prompt_trainer.train.evidence import EvidenceSample, evidence_view
from prompt_trainer.train.views import BulletOutcome

INSTRUCTIONS_FILE = "trainer.md"
LM_RETRIES = 2
MAX_RETRY_WAIT_S = 60.0
#: Output tokens a call may use (LiteLLM's default of 4,096 truncates whole-file answers).
MAX_OUTPUT_TOKENS = 8_000
#: Whole-file answers (``rewrite``) get more.
MAX_REWRITE_TOKENS = 16_000
#: One request per call: DSPy's JSON-mode fallback would be a second, uncounted request.
ADAPTER = dspy.ChatAdapter(use_json_adapter_fallback=False)
REPAIR = (
    "Your answer above could not be read: {problem}. Answer again, complete and shorter, with "
    "every output field in the [[ ## field ## ]] format and nothing else."
)


#: A replay of one pull request's task with a candidate's files (``training.gepa.metric: replay``).
Replayer = Callable[[tuple[PromptFile, ...], Sample], Replayed]


class SubagentSpec(BaseModel):
    """A subagent as the model reads and writes it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="kebab-case, e.g. test-runner")
    description: str = Field(description="one line: when the main agent should use it")
    prompt: str = Field(description="the subagent's full instructions (markdown)")


class PromptTrainer(dspy.Signature):  # type: ignore[misc]
    """Placeholder; the real instructions are loaded from prompts/trainer.md at run time."""

    samples: list[EvidenceSample] = dspy.InputField(desc="evidence from agent pull requests")
    current_main_prompt: str = dspy.InputField(desc="the main prompt file as it is now")
    current_subagents: list[SubagentSpec] = dspy.InputField(desc="subagents as they are now")
    max_subagents: int = dspy.InputField(desc="the most subagents the target may have in total")
    candidate_main_prompt: str = dspy.OutputField(desc="the full improved main prompt file")
    candidate_subagents: list[SubagentSpec] = dspy.OutputField(
        desc="only subagents to add or change; [] if none"
    )
    analysis_summary: str = dspy.OutputField(desc="markdown; each change with evidence ids")


@dataclass(frozen=True)
class TrainRequest:
    """Everything one training call needs."""

    target: Target
    current: PromptSet
    samples: list[Sample]
    llm: LLMSettings
    cache_dir: Path
    max_calls: int = 25
    max_usd: float | None = None
    max_evidence_tokens: int = 4000
    holdout: float = 0.0
    #: The held-out judge: "per-edit" (``train.judge``) or "pairwise" (``train.pairwise``).
    judge: str = "per-edit"
    candidates: int = 1
    rejected: tuple[Rejection, ...] = ()
    rejected_threshold: int = 2
    #: What the loop remembers from earlier versions: the bullet ledger, earlier-version
    #: context, the samples closed proposals were judged on (trained on, not held out again).
    memory: Memory = field(default_factory=Memory)
    #: The bullet history as shown (set by ``train`` once the held-out samples are known).
    history: tuple[str, ...] = ()
    #: What realized outcomes say of each current bullet (helpful/harmful counts), shown to
    #: reflections and the curation; () when nothing is known yet.
    bullet_outcomes: tuple[BulletOutcome, ...] = ()
    #: The ``gepa`` strategy's options (``training.gepa``) and its reflection model's settings
    #: (None: the training model).
    gepa: GepaOptions = field(default_factory=GepaOptions)
    reflection_llm: LLMSettings | None = None
    #: Where GEPA keeps its state (None: a temporary directory, nothing to resume), and the
    #: same directories of earlier runs, newest first, a search with the same inputs resumes.
    state_dir: Path | None = None
    earlier_states: tuple[Path, ...] = ()
    #: ``training.gepa.metric: replay``: the caller's replay of one task with a candidate's
    #: files (None where the agent may not run; ``replay_note`` says why).
    replayer: Replayer | None = None
    replay_note: str = ""


def load_instructions(name: str = INSTRUCTIONS_FILE) -> str:
    """The trainer's instructions: the repository's ``prompts/`` in a checkout, else the copy
    packaged into the wheel."""
    checkout = Path(__file__).resolve().parents[3] / "prompts" / name
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    packaged = resources.files("prompt_trainer") / "_prompts" / name
    return packaged.read_text(encoding="utf-8")


def train_candidate(
    request: TrainRequest,
    lm: Any = None,
    *,
    views: list[EvidenceSample] | None = None,
    budget: Any = None,
) -> Candidate | None:
    """One ``PromptTrainer`` call (on ``views``, else every sample's uncapped view); returns
    the candidate with its token usage, or None when the answer stayed unreadable."""
    lm = lm or build_lm(request.llm, cache_dir=request.cache_dir)
    instructions = load_instructions()
    program = dspy.Predict(PromptTrainer.with_instructions(instructions))
    current = request.current
    shown, _ = fit_request(
        views if views is not None else [evidence_view(s) for s in request.samples],
        max_evidence_tokens=request.max_evidence_tokens,
        # Instructions, the files, and DSPy's framing (about 3,000 characters).
        fixed_tokens=(len(instructions) + 3000 + sum(len(f.content) for f in current.files)) // 4,
    )
    with translate_llm_errors(request.llm), dspy.context(lm=lm, adapter=ADAPTER):
        prediction = ask(
            program,
            budget or _Unlimited(),
            max_tokens=MAX_REWRITE_TOKENS,
            samples=shown,
            current_main_prompt=numbered(current.main.content),
            current_subagents=[_spec(s) for s in current.subagents],
            max_subagents=request.target.max_subagents,
        )
    if prediction is None:
        return None
    return _candidate(request, prediction, usage=usage_of(lm))


class _Unlimited:
    """The budget of a call made outside a run: a repair is always allowed."""

    notes: list[str]

    def __init__(self) -> None:
        self.notes = []

    def allows(self) -> bool:
        return True


def ask(program: Any, budget: Any, *, max_tokens: int = MAX_OUTPUT_TOKENS, **inputs: Any) -> Any:
    """One call of ``program`` under ``dspy.context``; on an unreadable answer, one repair
    request if ``budget.allows()`` it. None when the answer stays unreadable (noted in
    ``budget.notes``)."""
    try:
        return program(**inputs, config={"max_tokens": max_tokens})
    except AdapterParseError as exc:
        problem = str(exc).splitlines()[0][:200] if str(exc) else "not in the expected format"
        name = call_name(program)
        if not budget.allows():
            budget.notes.append(f"{name}: unreadable answer, no budget to repair it; lost")
            return None
        return _repair(program, exc, problem, max_tokens=max_tokens, budget=budget)


#: What a call is, by its signature's first output field, for the run's notes.
CALL_NAMES = {
    "root_cause": "a reflection",
    "edits": "the curation",
    "verdicts": "the check",
    "rules": "the root causes",
    "decisions": "the merge pass",
    "candidate_main_prompt": "the rewrite",
    "score_a": "the judge",
    "effects": "the held-out judge",
}


def call_name(program: Any) -> str:
    """``the curation``, ``a reflection``...: which call a note is about."""
    first = next(iter(program.signature.output_fields), "")
    return CALL_NAMES.get(first, str(program.signature.__name__))


def _repair(
    program: Any, exc: AdapterParseError, problem: str, *, max_tokens: int, budget: Any
) -> Any:
    lm = dspy.settings.lm
    messages = [
        *lm.history[-1]["messages"],
        {"role": "assistant", "content": str(exc.lm_response or "")},
        {"role": "user", "content": REPAIR.format(problem=problem)},
    ]
    name = call_name(program)
    outputs = lm(messages=messages, max_tokens=max_tokens)
    text = outputs[0]["text"] if isinstance(outputs[0], dict) else str(outputs[0])
    try:
        return dspy.Prediction(**ADAPTER.parse(program.signature, text))
    except AdapterParseError:
        budget.notes.append(f"{name}: unreadable answer, also after one repair request; lost")
        return None


def build_lm(llm: LLMSettings, *, cache_dir: Path) -> Any:
    """A ``dspy.LM`` for the configured model and endpoint, with the disk cache in place."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    dspy.configure_cache(
        enable_disk_cache=True,
        enable_memory_cache=True,
        disk_cache_dir=str(cache_dir),
        # A cache restored from another run is not trusted to name the classes it unpickles.
        restrict_pickle=True,
    )
    key = llm.api_key or ("unused" if llm.api_base else None)
    options: dict[str, Any] = {"temperature": 0.0, "max_tokens": MAX_OUTPUT_TOKENS}
    try:
        return _retrying(llm, key, options)
    except ValueError:  # DSPy asks reasoning models for temperature 1 and room to think
        return _retrying(llm, key, {"temperature": 1.0, "max_tokens": MAX_REWRITE_TOKENS})


def _retrying(llm: LLMSettings, key: str | None, options: dict[str, Any]) -> Any:
    return RetryingLM(
        llm.model,
        api_base=llm.api_base,
        api_key=key,
        timeout=llm.timeout_s,
        retries=LM_RETRIES,
        backoff_s=llm.backoff_s,
        **options,
    )


class RetryingLM(dspy.LM):  # type: ignore[misc]
    """A ``dspy.LM`` whose transient failures (rate limit, timeout, 5xx, transport) are retried
    here with the caller's backoff instead of DSPy's fixed one; DSPy itself makes one attempt.
    Every request is sent with the held secrets masked (``masked``)."""

    def __init__(self, model: str, *, retries: int, backoff_s: float, **options: Any) -> None:
        super().__init__(model, num_retries=0, **options)
        self.retries = retries
        self.backoff_s = backoff_s
        #: Requests that failed and were retried: sent, so counted by the budget, but not in
        #: ``history``.
        self.failed = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = masked(args, kwargs)
        for attempt in range(self.retries):
            try:
                return super().__call__(*args, **kwargs)
            except Exception as exc:
                if not is_retryable_lm_error(exc):
                    raise
                self.failed += 1
                time.sleep(retry_wait(exc, attempt, backoff_s=self.backoff_s))
        return super().__call__(*args, **kwargs)


def masked(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A request with the secrets this process holds masked (``redact.mask_held``) in its
    prompt and every message's text: nothing the process holds reaches the provider."""
    if args and isinstance(args[0], str):
        args = (mask_held(args[0]), *args[1:])
    if isinstance(kwargs.get("prompt"), str):
        kwargs = {**kwargs, "prompt": mask_held(kwargs["prompt"])}
    if isinstance(kwargs.get("messages"), list):
        kwargs = {**kwargs, "messages": [_masked_message(m) for m in kwargs["messages"]]}
    return args, kwargs


def _masked_message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": mask_held(content)}
    if isinstance(content, list):  # parts: {"type": "text", "text": ...}
        parts = [
            {**p, "text": mask_held(p["text"])}
            if isinstance(p, dict) and isinstance(p.get("text"), str)
            else p
            for p in content
        ]
        return {**message, "content": parts}
    return message


def retry_wait(exc: Exception, attempt: int, *, backoff_s: float) -> float:
    """The provider's Retry-After when it sent one, else ``backoff_s x 2^(attempt+1)``."""
    hint = getattr(exc, "retry_after", None)
    if isinstance(hint, int | float) and math.isfinite(hint) and hint >= 0:
        return min(float(hint), MAX_RETRY_WAIT_S)
    return min(backoff_s * 2.0 ** (attempt + 1), MAX_RETRY_WAIT_S)


def usage_of(lm: Any) -> TokenUsage:
    """Calls, tokens and cost recorded in the LM's history (cached calls report none)."""
    input_tokens = output_tokens = calls = 0
    cost: float | None = None
    for entry in lm.history:
        usage = entry.get("usage") or {}
        if usage:
            calls += 1
        input_tokens += int(usage.get("prompt_tokens") or 0)
        output_tokens += int(usage.get("completion_tokens") or 0)
        if entry.get("cost") is not None:
            cost = (cost or 0.0) + float(entry["cost"])
    return TokenUsage(
        calls=calls, input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost
    )


@contextlib.contextmanager
def translate_llm_errors(llm: LLMSettings) -> Iterator[None]:
    """Map DSPy/LiteLLM failures to ``LLMError`` with a fix; anything else passes through."""
    try:
        yield
    except Exception as exc:
        error = _llm_error(exc, llm)
        if error is None:
            raise
        raise error from exc


def _llm_error(exc: Exception, llm: LLMSettings) -> LLMError | None:
    """The ``LLMError`` (with its fix) for a DSPy or LiteLLM failure, None for any other."""
    model = llm.model
    if isinstance(exc, AdapterParseError):
        what = f"the model {model} did not answer in the expected format"
        return LLMError(what, fix="retry, or use a stronger model (--model)")
    if isinstance(exc, LMAuthError):
        what = f"the LLM provider rejected the credentials for {model}"
        return LLMError(what, fix=f"check {llm.key_var}")
    if isinstance(exc, LMTransportError):
        what = f"cannot reach the LLM endpoint for {model}: {exc}"
        return LLMError(what, fix="check --api-base / api_base and the network")
    if isinstance(exc, DSPyError) or type(exc).__module__.startswith("litellm"):
        return LLMError(f"the LLM call failed: {exc}", fix="retry the run")
    return None


def _spec(subagent: Subagent) -> SubagentSpec:
    return SubagentSpec(
        name=subagent.name, description=subagent.description, prompt=subagent.prompt
    )


def _candidate(request: TrainRequest, prediction: Any, *, usage: TokenUsage) -> Candidate:
    """Merge the model's answer into the current files: returned subagents replace those of the
    same name or are added; subagents it does not mention stay as they are."""
    current = request.current
    main = PromptFile(
        path=current.main.path,
        content=_with_newline(unnumbered(str(prediction.candidate_main_prompt))),
    )
    by_name = {s.name: s for s in current.subagents}
    files = {f.path: f for f in current.files}
    files[main.path] = main
    dropped: list[str] = []
    for spec in prediction.candidate_subagents or []:
        existing = by_name.get(spec.name)
        if existing is None and (problem := subagent_name_problem(spec.name)):
            dropped.append(problem)
            continue
        sub = Subagent(
            name=spec.name,
            description=spec.description,
            prompt=spec.prompt,
            path=existing.path if existing else subagent_path(request.target, spec.name),
            frontmatter=existing.frontmatter if existing else {},
        )
        files[sub.path] = PromptFile(path=sub.path, content=render_subagent(sub))
    return Candidate(
        target=request.target.name,
        base_version=current.version,
        files=tuple(sorted(files.values(), key=lambda f: f.path)),
        analysis_summary=str(prediction.analysis_summary).strip(),
        usage=usage,
        sample_ids=tuple(s.id for s in request.samples),
        dropped=tuple(dropped),
    )


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def ping(llm: LLMSettings) -> str | None:
    """One uncached, tiny request: None when the model answers, else why not."""
    key = llm.api_key or ("unused" if llm.api_base else None)
    options: dict[str, Any] = {"max_tokens": 1}
    try:
        try:
            lm = dspy.LM(
                llm.model,
                api_base=llm.api_base,
                api_key=key,
                num_retries=0,
                timeout=min(llm.timeout_s, 60),
                cache=False,
                **options,
            )
        except ValueError:  # DSPy asks reasoning models for temperature 1 and room to think
            options = {"max_tokens": 16_000, "temperature": 1.0}
            lm = dspy.LM(llm.model, api_base=llm.api_base, api_key=key, cache=False, **options)
        lm(messages=[{"role": "user", "content": "Reply with: ok"}])
    except Exception as exc:  # any provider error is the answer to "reachable?"
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        return f"{type(exc).__name__}: {first}"
    return None
