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
translated into ``LLMError`` here. How each request is made (the output cap the server honours,
the fit into the model's context, retries with the caller's backoff, the cache of answers that
were read) is the call layer, ``train.calls``.

Every request carries ``max_tokens`` and ``temperature`` (0 unless a call asks otherwise). DSPy's
hidden JSON-mode second request on a parse failure is switched off (``ADAPTER``); ``ask`` instead
makes one repair request (the tail of the broken answer and what was wrong with it) when the
budget allows, and otherwise returns None: that call's contribution is lost, never the run. So is
any other failure of the call (a 400 for a context exceeded, a time-out, a 5xx after the
retries); only a systemic one (the key refused, the endpoint unreachable, an unknown model)
stops the run. Each loss is noted where it happened, which call on which sample and why, in the
budget's notes (the analysis) and on the LM (``lost``: the candidate's, shown on the console and
in the PR body). An answer that could not be read is removed from the cache, so a rerun asks
again. So every request the trainer sends is counted by the budget.
"""

from __future__ import annotations

import contextlib
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
from prompt_trainer.settings import GepaOptions, LLMSettings, Target
from prompt_trainer.targets import render_subagent, subagent_name_problem, subagent_path
from prompt_trainer.train.budget import fit_request
from prompt_trainer.train.calls import (
    MAX_OUTPUT_TOKENS,
    CallingLM,
    CallLost,
    build_calling_lm,
    endpoint_failure,
    routed_model,
    systemic,
    timed_out,
    why_lost,
)
from prompt_trainer.train.edits import numbered, unnumbered
from prompt_trainer.train.evidence import EvidenceSample, evidence_view
from prompt_trainer.train.views import BulletOutcome

INSTRUCTIONS_FILE = "trainer.md"
#: Whole-file answers (``rewrite``) get more.
MAX_REWRITE_TOKENS = 16_000
#: One request per call: DSPy's JSON-mode fallback would be a second, uncounted request.
ADAPTER = dspy.ChatAdapter(use_json_adapter_fallback=False)
REPAIR = (
    "Your answer above could not be read: {problem}. Answer again, complete and shorter, with "
    "every output field in the [[ ## field ## ]] format and nothing else."
)
#: Characters of a broken answer the repair request shows (its end, where it went wrong): a
#: looping answer of 7,000 tokens sent back whole overflowed an 8,192-token context.
REPAIR_TAIL_CHARS = 1_500
#: What a call is, by its signature's first output field, for the run's notes.
CALL_NAMES = {
    "root_cause": "a reflection",
    "edits": "the curation",
    "verdicts": "the check",
    "rules": "the root causes",
    "decisions": "the merge pass",
    "candidate_main_prompt": "the rewrite",
    "score_a": "the pairwise judge",
    "effects": "the held-out judge",
    "new_text": "a GEPA reflection",
}


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


def ask(
    program: Any,
    budget: Any,
    *,
    max_tokens: int = MAX_OUTPUT_TOKENS,
    lose_outages: bool = True,
    **inputs: Any,
) -> Any:
    """One call of ``program`` under ``dspy.context``; on an unreadable answer, one repair
    request if ``budget.allows()`` it. None when the call gave nothing usable: unreadable, or
    failed (``train.calls``); the loss is noted in ``budget.notes`` and on the LM. A systemic
    failure (the key refused, the endpoint unreachable or down) raises; so does any failure of
    the endpoint (a time-out, a 5xx) when ``lose_outages`` is off, for a caller that would
    otherwise record the loss as a result (GEPA's metric, whose scores are saved to resume)."""
    lm = dspy.settings.lm
    where = call_name(program) + about(inputs)
    try:
        return program(**inputs, config={"max_tokens": max_tokens})
    except AdapterParseError as exc:
        _forget(lm)
        problem = parse_problem(exc)
        if not budget.allows():
            return _lost(
                lm, budget, where, f"unreadable answer ({problem}), no budget to repair it"
            )
        return _repair(program, exc, problem, max_tokens=max_tokens, budget=budget, where=where)
    except Exception as exc:
        if _stops(exc, lm, lose_outages=lose_outages):
            raise
        return _lost(lm, budget, where, why_lost(exc))


def parse_problem(exc: AdapterParseError) -> str:
    """What was wrong with an answer, for the note and the repair request: the fields missing
    (or DSPy's own words when it gave some), and the answer's length (a looping answer runs to
    the output cap)."""
    stated = str(exc).split("\n\n")[0].strip()
    if stated.startswith(f"Adapter {exc.adapter_name} failed"):
        expected = list(getattr(exc.signature, "output_fields", {}) or {})
        parsed = set(exc.parsed_result or {}) if isinstance(exc.parsed_result, dict) else set()
        missing = [name for name in expected if name not in parsed] or expected
        stated = f"missing {', '.join(missing)}" if missing else "not in the expected format"
    length = len(str(exc.lm_response or ""))
    return f"{' '.join(stated.split())[:200]}, in an answer of {length:,} characters"


def call_name(program: Any) -> str:
    """``the curation``, ``a reflection``...: which call a note is about."""
    first = next(iter(program.signature.output_fields), "")
    return CALL_NAMES.get(first, str(program.signature.__name__))


def about(inputs: dict[str, Any]) -> str:
    """What a call was about, for its loss note: the held-out PR a judge read (``sample``,
    ``pull_request``), the cluster and the samples a reflection read, the edits a check read
    (the rules a merge pass read), the clusters a curation read, the section a GEPA reflection
    rewrites, the samples the root causes or the rewrite read."""
    sample = getattr(inputs.get("sample") or inputs.get("pull_request"), "id", None)
    if sample:
        return f" on {sample}"
    cluster = getattr(inputs.get("cluster"), "id", None)
    shown = [str(getattr(s, "id", "")) for s in inputs.get("samples") or []]
    listed = f" ({', '.join(shown[:4])}{', ...' if len(shown) > 4 else ''})" if shown else ""
    if cluster:
        return f" on cluster {cluster}{listed}"
    part = inputs.get("part")
    if isinstance(part, str) and part:
        return f" on {part[:120]}"
    proposed = inputs.get("proposed")
    if isinstance(proposed, list):
        what = "rule(s)" if all(isinstance(p, str) for p in proposed) else "edit(s)"
        return f" of {len(proposed)} {what}"
    if isinstance(inputs.get("clusters"), list):
        return f" over {len(inputs['clusters'])} cluster(s)"
    return f" on {len(shown)} sample(s){listed}" if shown else ""


def _stops(exc: Exception, lm: Any, *, lose_outages: bool) -> bool:
    """Whether a call's failure goes up rather than being that call's loss: not an LM failure
    at all (a bug), one of the endpoint as a whole (``calls.systemic``), or, without
    ``lose_outages``, any failure of the endpoint (``calls.endpoint_failure``)."""
    answered, down = getattr(lm, "answered", 0), getattr(lm, "down", 0)
    if not _lm_failure(exc) or systemic(exc, answered=answered, down=down):
        return True
    return not lose_outages and endpoint_failure(exc)


def _lm_failure(exc: Exception) -> bool:
    return isinstance(exc, CallLost | DSPyError) or type(exc).__module__.startswith("litellm")


def _forget(lm: Any) -> None:
    if isinstance(lm, CallingLM):
        lm.forget_last()


def _lost(lm: Any, budget: Any, where: str, why: str) -> None:
    """Note that the call at ``where`` was lost, and why; the call gives None."""
    note = f"{where}: {why}; lost"
    budget.notes.append(note)
    if isinstance(lm, CallingLM):
        lm.lost.append(note)


def _repair(
    program: Any,
    exc: AdapterParseError,
    problem: str,
    *,
    max_tokens: int,
    budget: Any,
    where: str,
) -> Any:
    """The request again, followed by the broken answer's tail and what was wrong with it."""
    lm = dspy.settings.lm
    messages = [
        *_last_messages(lm),
        {"role": "assistant", "content": _tail(str(exc.lm_response or ""))},
        {"role": "user", "content": REPAIR.format(problem=problem)},
    ]
    try:
        outputs = lm(messages=messages, max_tokens=max_tokens)
    except Exception as failed:
        if _stops(failed, lm, lose_outages=True):
            raise
        why = f"unreadable answer ({problem}); the repair request failed: {why_lost(failed)}"
        return _lost(lm, budget, where, why)
    text = outputs[0]["text"] if isinstance(outputs[0], dict) else str(outputs[0])
    try:
        return dspy.Prediction(**ADAPTER.parse(program.signature, text or ""))
    except AdapterParseError:
        _forget(lm)
        return _lost(lm, budget, where, f"unreadable answer ({problem}), also after a repair")


def with_losses(candidate: Candidate, lms: list[Any]) -> Candidate:
    """The candidate with the run's lost calls (``Candidate.lost``), its analysis opening with
    how many were lost: without them it is incomplete, whatever it says next ("no sample showed
    a problem" when every reflection was lost)."""
    lost = tuple(note for lm in lms for note in getattr(lm, "lost", ()))
    if not lost:
        return candidate
    opening = (
        f"**{len(lost)} LLM call(s) lost**, so this analysis is incomplete (each is listed "
        "below with the call, the sample and why)."
    )
    summary = f"{opening}\n\n{candidate.analysis_summary}".strip()
    return candidate.model_copy(update={"lost": lost, "analysis_summary": summary})


def _last_messages(lm: Any) -> list[dict[str, Any]]:
    if isinstance(lm, CallingLM) and lm.last_messages:
        return list(lm.last_messages)
    return list(lm.history[-1]["messages"])


def _tail(answer: str) -> str:
    """The end of a broken answer, where it went wrong, saying how much was cut."""
    if len(answer) <= REPAIR_TAIL_CHARS:
        return answer
    cut = len(answer) - REPAIR_TAIL_CHARS
    return (
        f"[... the first {cut:,} characters of this answer are cut ...]\n"
        + answer[-REPAIR_TAIL_CHARS:]
    )


def build_lm(llm: LLMSettings, *, cache_dir: Path) -> Any:
    """The run's LM (``train.calls``) for the configured model and endpoint, with the disk
    cache in place."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    dspy.configure_cache(
        enable_disk_cache=True,
        enable_memory_cache=True,
        disk_cache_dir=str(cache_dir),
        # A cache restored from another run is not trusted to name the classes it unpickles.
        restrict_pickle=True,
    )
    options: dict[str, Any] = {"temperature": 0.0, "max_tokens": MAX_OUTPUT_TOKENS}
    try:
        return build_calling_lm(llm, options=options)
    except ValueError:  # DSPy asks reasoning models for temperature 1 and room to think
        return build_calling_lm(llm, options={"temperature": 1.0, "max_tokens": MAX_REWRITE_TOKENS})


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
def translate_llm_errors(llm: LLMSettings, *, lm: Any = None) -> Iterator[None]:
    """Map DSPy/LiteLLM failures to ``LLMError`` with a fix; anything else passes through.
    An answer ``lm`` could not read is removed from its cache first: "retry" then asks again."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, AdapterParseError):
            _forget(lm)
        error = _llm_error(exc, llm)
        if error is None:
            raise
        raise error from exc


def _llm_error(exc: Exception, llm: LLMSettings) -> LLMError | None:
    """The ``LLMError`` (with its fix) for a DSPy or LiteLLM failure, None for any other."""
    model = llm.model
    if isinstance(exc, CallLost) and exc.timed_out:
        what = f"the LLM endpoint for {model} sent no answer within {llm.timeout_s:g} s"
        return LLMError(
            what, fix="a slow or local model needs more time: raise training.llm_timeout_s"
        )
    if isinstance(exc, CallLost):
        return LLMError(f"the LLM call was lost: {exc.reason}", fix="see the reason")
    if isinstance(exc, AdapterParseError):
        what = f"the model {model} did not answer in the expected format"
        return LLMError(what, fix="retry, or use a stronger model (--model)")
    if isinstance(exc, LMAuthError):
        what = f"the LLM provider rejected the credentials for {model}"
        return LLMError(what, fix=f"check {llm.key_var}")
    if isinstance(exc, LMTransportError) and timed_out(exc):
        what = f"the LLM endpoint for {model} sent no answer within {llm.timeout_s:g} s"
        return LLMError(
            what, fix="a slow or local model needs more time: raise training.llm_timeout_s"
        )
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
                routed_model(llm),
                api_base=llm.api_base,
                api_key=key,
                num_retries=0,
                timeout=min(llm.timeout_s, 60),
                cache=False,
                **options,
            )
        except ValueError:  # DSPy asks reasoning models for temperature 1 and room to think
            options = {"max_tokens": 16_000, "temperature": 1.0}
            lm = dspy.LM(
                routed_model(llm), api_base=llm.api_base, api_key=key, cache=False, **options
            )
        lm(messages=[{"role": "user", "content": "Reply with: ok"}])
    except Exception as exc:  # any provider error is the answer to "reachable?"
        if timed_out(exc):
            return (
                f"no answer within {min(llm.timeout_s, 60):g} s: the endpoint is reachable "
                "but slow; a slow or local model needs training.llm_timeout_s raised"
            )
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        return f"{type(exc).__name__}: {first}"
    return None
