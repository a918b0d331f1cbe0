"""GEPA's replay-scored search in the Action's split jobs (``training.gepa.metric: replay``).

A replay-scored search runs the agent on training tasks, and the agent follows text written by
outsiders (the task is a PR's title and body), so it runs where no secret of value is: in the
``evaluate`` job, which holds neither the write token nor the trainer's key. Its reflections
and its check need a model there too: ``training.gepa.reflection_model``, whose key the user
names in ``training.eval_pass_env`` (the agent's own key, which that job holds anyway).

- ``prepare`` (``bundle_search``): for a target with strategy ``gepa`` and the replay metric,
  on ``workflow_dispatch`` or ``schedule`` (``searched_in_evaluate``), the prepare job trains
  nothing itself: it plans the search (``train.gepa_remote.plan_search``: training pull
  requests, validation, the held-out split, the clusters) and bundles the plan with the samples
  it names (``loop.bundle.SearchIntent``). ``require_reflection_key`` stops such a run, before
  any training, when the configuration cannot give that job a model.
- ``evaluate`` (``run_search``): the search on that plan (``train.gepa_remote.run_search``),
  each candidate scored by a replay of a training task (``replay.replayer``), then the held-out
  replay of its candidate on the tasks the search never saw (``replay.replay``: its held-out
  evaluation), then the configured commands (``evaluate.run_commands``); the candidate goes
  back as ``Searched``, outside data for ``publish`` (``loop.searched``). Anything that stops
  the search is that target's ``not_run``, and the rest of the job goes on.

Takes the settings, the run's options, a target and the recorder or the bundle; gives the
prepare job's run line, or ``Searched``. DSPy and the replay are imported only here, when used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prompt_trainer import workdir
from prompt_trainer.errors import ConfigError, NotEnoughEvidence, PromptTrainerError
from prompt_trainer.evaluate import run_commands
from prompt_trainer.loop.bundle import Bundle, Recorder, Searched, SearchIntent
from prompt_trainer.loop.contract import TargetResult
from prompt_trainer.memory import Memory
from prompt_trainer.models import Candidate, PromptSet, Rejection, Sample
from prompt_trainer.settings import LLMSettings, Settings, Target, provider_key_var

if TYPE_CHECKING:
    from prompt_trainer.loop.contract import RunOptions

Log = Callable[[str], None]
WHERE = "docs/workflows.md, 'GEPA's replay-scored search'"


def replay_metric(settings: Settings) -> bool:
    """``training.gepa.metric: replay`` with both replay commands configured."""
    replay = settings.config.replay
    metric = settings.config.training.gepa.metric
    return metric == "replay" and bool(replay.agent_command and replay.test_command)


def searched_in_evaluate(settings: Settings, options: RunOptions, strategy: str) -> bool:
    """Whether this run (a prepare job on an event that may replay) hands the target's search
    to the evaluate job instead of searching with the judge itself."""
    prepare = options.bundle is not None and not options.replay_skipped
    return prepare and strategy == "gepa" and replay_metric(settings)


def reflection_key(settings: Settings) -> str:
    """The variable the evaluate job reads the reflection model's key from; a ``ConfigError``
    saying exactly what to set when the configuration gives that job no model."""
    training = settings.config.training
    model = training.gepa.reflection_model
    if not model:
        raise ConfigError(
            "training.gepa.metric is replay: GEPA's search then runs in the evaluate job, which "
            "holds neither the write token nor the trainer's key, and training.gepa."
            "reflection_model is not set (the trainer's model and key never reach that job)",
            fix="set training.gepa.reflection_model to a model whose key the agent holds (e.g. "
            "anthropic/claude-sonnet-4-5) and name that key in training.eval_pass_env (e.g. "
            f"[ANTHROPIC_API_KEY]), mapped in the evaluate job's env ({WHERE})",
        )
    var = provider_key_var(model)
    if var not in training.eval_pass_env:
        raise ConfigError(
            f"training.gepa.reflection_model is {model}: the evaluate job, where the replay-"
            f"scored search runs, reads its key from {var}, which training.eval_pass_env "
            f"does not name (it names {', '.join(training.eval_pass_env) or 'nothing'})",
            fix=f"add {var} to training.eval_pass_env and map it in the evaluate job's env "
            f"({var}: ${{{{ secrets.<the agent's key> }}}}), a key of its own, not the "
            f"trainer's ({WHERE})",
        )
    return var


def require_reflection_key(settings: Settings, options: RunOptions, targets: list[Target]) -> None:
    """Stop a prepare run before any training when it would hand a search to the evaluate job
    and the configuration gives that job no model (its evidence is stored all the same)."""
    training = settings.config.training
    strategies = [options.strategy or training.strategy_for(t) for t in targets]
    if any(searched_in_evaluate(settings, options, s) for s in strategies):
        reflection_key(settings)


# -- prepare -------------------------------------------------------------------------------


def bundle_search(  # noqa: PLR0917 - one target's inputs, as train_target takes them
    settings: Settings,
    target: Target,
    current: PromptSet,
    samples: list[Sample],
    rejected: tuple[Rejection, ...],
    memory: Memory,
    *,
    llm: LLMSettings,
    recorder: Recorder,
    log: Log,
) -> TargetResult:
    """Plan the target's search and bundle it for the evaluate job, saying so in the run line
    (blocked, as training would be, when too few samples can be split)."""
    from prompt_trainer.train.gepa_remote import plan_search  # noqa: PLC0415 - DSPy
    from prompt_trainer.train.step import train_request  # noqa: PLC0415

    request = train_request(
        settings, target, current, samples, llm=llm, rejected=rejected, memory=memory
    )
    try:
        plan = plan_search(request)
    except NotEnoughEvidence as exc:
        log(exc.diagnostics())
        return TargetResult(target.name, blocked=exc.message)
    wanted = set(plan.earlier)
    shown = [*memory.with_quoted(samples), *(s for s in memory.stored if s.id in wanted)]
    intent = SearchIntent(
        target=target.name, current=current, samples=plan.samples, training=plan.training,
        validation=plan.validation, held_out=plan.held_out, earlier=plan.earlier,
        clusters=plan.clusters, rejected=rejected, guarded=tuple(s.id for s in shown),
        shown=memory.outside(rejected), notes=plan.notes,
    )  # fmt: skip
    recorder.search(intent, shown)
    line = (
        f"train: {target.name}: gepa scored by replay: the search runs in the evaluate job "
        f"(with {settings.config.training.gepa.reflection_model}, no trainer key there); "
        f"bundled its inputs: {len(plan.training)} training PR(s), {len(plan.validation)} "
        f"validation, {len(plan.held_out)} held-out task(s) it never sees, "
        f"{len(plan.clusters)} supported failure cluster(s); no judge-scored search here"
    )
    log(line)
    return TargetResult(target.name, skipped=line.removeprefix(f"train: {target.name}: "))


# -- evaluate ------------------------------------------------------------------------------


def reflection_llm(settings: Settings) -> LLMSettings:
    """The evaluate job's one model: ``training.gepa.reflection_model`` with the key
    ``training.eval_pass_env`` lets this job read (``reflection_key``)."""
    var = reflection_key(settings)
    llm = settings.llm(model=settings.config.training.gepa.reflection_model)
    if not llm.available:
        raise ConfigError(
            f"{var} is not set in the evaluate job: the reflection model {llm.model} has no key",
            fix=f"map it in the evaluate job's step env ({var}: ${{{{ secrets.<the agent's "
            f"key> }}}}; {WHERE})",
        )
    return llm


def run_search(
    settings: Settings, bundle: Bundle, intent: SearchIntent, *, not_run: str, log: Log
) -> Searched:
    """The evaluate job's search for one bundled target (see the module docstring); why
    there is no candidate in ``Searched.not_run``."""
    if not_run:
        why = f"{not_run}; GEPA's replay-scored search was not run"
    else:
        try:
            return _search(settings, bundle, intent, log=log)
        except PromptTrainerError as exc:
            why = exc.diagnostics()
    log(f"evaluate: {intent.target}: GEPA's replay-scored search: {why}")
    return Searched(target=intent.target, not_run=why[:4_000])


def _search(settings: Settings, bundle: Bundle, intent: SearchIntent, *, log: Log) -> Searched:
    from prompt_trainer.replay import replay, replayer  # noqa: PLC0415
    from prompt_trainer.train.gepa_remote import SearchPlan  # noqa: PLC0415 - DSPy
    from prompt_trainer.train.gepa_remote import run_search as search  # noqa: PLC0415
    from prompt_trainer.train.step import Search, train_request  # noqa: PLC0415

    target = settings.target(intent.target)
    llm = reflection_llm(settings)
    state = workdir.evaluate_search_dir(settings.root, target.name)
    request = train_request(
        settings, target, intent.current, bundle.samples_of(intent.samples), llm=llm,
        rejected=intent.rejected, memory=Memory(stored=tuple(bundle.samples_of(intent.earlier))),
        search=Search(state, (), replayer(settings, target, log=log)),
    )  # fmt: skip
    log(f"evaluate: {target.name}: GEPA's search scored by replay, reflecting with {llm.model}")
    plan = SearchPlan(
        samples=intent.samples, training=intent.training, validation=intent.validation,
        held_out=intent.held_out, earlier=intent.earlier, clusters=intent.clusters,
    )  # fmt: skip
    found = search(request, plan)
    if found.fingerprint == intent.current.version:
        return Searched(target=target.name, not_run=f"nothing to propose: {found.no_change}")
    held = bundle.samples_of(intent.held_out)
    log(f"evaluate: {target.name}: replaying {len(held)} held-out task(s) the search never saw")
    result = replay(settings, target, found.files, held, holdout=0, log=log)
    return _commands(settings, target, intent, found.model_copy(update={"replay": result}), log)


def _commands(
    settings: Settings, target: Target, intent: SearchIntent, found: Candidate, log: Log
) -> Searched:
    """The configured commands on the candidate (``training.eval_command``; the held-out
    replay above is its replay), then the candidate bound to its content hash."""
    ran = run_commands(found, intent.current, target, samples=[], settings=settings, log=log)
    done = ran.candidate
    return Searched(target=target.name, fingerprint=done.fingerprint, candidate=done)
