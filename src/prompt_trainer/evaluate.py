"""Evaluate stage: guardrails a candidate must pass before anything is proposed, and the
repository's own evaluation command.

Guardrails check what can be checked without another LLM call: a non-empty main prompt, valid
subagent frontmatter with unique kebab-case names, at most ``max_subagents`` subagents, a size
limit in characters and estimated tokens (about four characters each), growth within a
percentage of the current size (growth under ``GROWTH_FLOOR`` characters always passes), no
secret in the text the candidate adds, no copy of outside text (the new text may not share a
run of ``SHINGLE`` words, compared lowercased and without punctuation, with any string the
model was shown that was written outside the trusted circle: ``outside.outside_texts`` walks
every field of the evidence views and the samples, and the lines shown beside them), no URL or
download piped to a shell taken from that text, and every line marked ``prompt-trainer: keep``
in the current files still present, unchanged. New subagent files must sit at
``subagent_path`` under a kebab-case name. A failing candidate is reported with its reasons
and never proposed; the review loop runs the same check on a revision before pushing it.

With ``training.require_improvement`` (the default) a candidate whose held-out verdict is
"worse" is not proposed (``held_out_problems``); "too few to judge" passes and is labelled so in
the PR body.

``run_eval_command`` runs ``training.eval_command`` for the current prompts and for the
candidate, ``training.eval_repeat`` times each, in the environment it is given
(``Settings.command_env``: no tokens, API keys or ``ACTIONS_*`` variables unless
``training.eval_pass_env`` names them); its JUnit pass-rate delta is authoritative
(``eval_problems``): a drop larger than the run-to-run spread blocks.
With ``training.gate: replay``, ``replay_gate`` also reruns the agent on held-out tasks with both
prompt sets (``prompt_trainer.replay``) and a "worse" verdict blocks; when the run may not replay
(the Action replays only on ``workflow_dispatch`` and ``schedule``: ``RunOptions.replay_skipped``)
the candidate records that the replay was not run, and nothing blocks on it.
``evaluate_candidate`` is the run's step: all of them, one verdict.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from prompt_trainer.collect.junit import parse_report
from prompt_trainer.models import (
    Candidate,
    EvalCommandResult,
    PromptFile,
    PromptSet,
    ReplayResult,
    Sample,
    Skipped,
)
from prompt_trainer.outside import Labelled, outside_texts
from prompt_trainer.redact import redact
from prompt_trainer.settings import Settings, Target, TrainingOptions
from prompt_trainer.targets import (
    KEBAB_NAME,
    split_frontmatter,
    subagent_name_problem,
    subagent_path,
)

KEBAB = KEBAB_NAME
KEEP_MARKER = "prompt-trainer: keep"
#: Words in a row the candidate's new text may not share with any outside text.
SHINGLE = 8
WORD = re.compile(r"[^\W_]+")
URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`]+", re.I)
#: Invisible format characters (soft hyphen, zero-width spaces and joiners, bidi marks, word
#: joiner, byte-order mark, tag characters), deleted before words are compared.
INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\U000e0000-\U000e007f]"
)
#: A download piped or handed to an interpreter: ``curl … | sh``, ``wget -O- … | sudo bash``,
#: ``bash <(curl …)``, ``sh -c "$(wget …)"``, ``iwr … | iex``.
SHELL_PIPE = re.compile(
    r"(?i)\b(?:curl|wget|fetch|iwr|irm|invoke-webrequest|invoke-restmethod)\b[^|\n]{0,300}\|"
    r"\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:ba|z|k|da|c|tc|fi)?sh\b"
    r"|\b(?:curl|wget|iwr|irm)\b[^|\n]{0,300}\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node|iex)\b"
    r"|\b(?:ba|z|k)?sh\s+(?:-c\s+)?[\"']?(?:<\(|\$\()\s*(?:curl|wget)\b"
)
#: Growth below this many characters always passes: a 100-character rules file may double.
GROWTH_FLOOR = 1_000


@dataclass(frozen=True)
class GateResult:
    """Whether the candidate may be proposed, and if not, why."""

    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def check_candidate(
    candidate: Candidate,
    current: PromptSet,
    target: Target,
    *,
    samples: list[Sample] | None = None,
    shown: Sequence[Labelled] = (),
    limits: TrainingOptions | None = None,
) -> GateResult:
    """Run every guardrail; collect all problems rather than stopping at the first. The copy
    guard reads every outside text of ``samples`` and ``shown`` (``outside.outside_texts``)."""
    limits = limits or TrainingOptions()
    problems: list[str] = []
    main = next((f for f in candidate.files if f.path == current.main.path), None)
    if main is None or not main.content.strip():
        problems.append(f"the candidate main prompt {current.main.path} is empty")
    problems += _subagent_problems(candidate, current, target)
    added = new_text(candidate, current)
    for file in candidate.files:
        if len(file.content) > limits.max_prompt_chars:
            problems.append(
                f"{file.path} has {len(file.content)} characters "
                f"(limit training.max_prompt_chars={limits.max_prompt_chars})"
            )
        text = added.get(file.path, "")
        if redact(text) != text or "[REDACTED:" in text:
            problems.append(f"{file.path} contains a secret or a redaction marker")
    problems += _size_problems(candidate, current, limits)
    problems += _keep_problems(candidate, current)
    outside = outside_texts(samples or [], shown=shown)
    problems += _copy_problems(candidate, outside, current=current)
    problems += held_out_problems(candidate, limits)
    return GateResult(problems=tuple(problems))


def held_out_problems(candidate: Candidate, limits: TrainingOptions) -> list[str]:
    """A held-out verdict of "worse" blocks when ``training.require_improvement`` is on."""
    result = candidate.evaluation
    if not limits.require_improvement or result is None or result.verdict != "worse":
        return []
    p = f", sign test p={result.p_value:.2g}" if result.p_value is not None else ""
    return [
        f"held-out: the judge prefers the current prompts ({result.wins} better, "
        f"{result.losses} worse, {result.ties} tied{p}); training.require_improvement is on"
    ]


def new_text(candidate: Candidate, current: PromptSet) -> dict[str, str]:
    """The lines of each candidate file that the current file does not have (a new file: all of
    them): what the candidate writes, as opposed to what it keeps."""
    before = {f.path: set(f.content.split("\n")) for f in current.files}
    return {
        f.path: "\n".join(ln for ln in f.content.split("\n") if ln not in before.get(f.path, ()))
        for f in candidate.files
    }


def _size_problems(candidate: Candidate, current: PromptSet, limits: TrainingOptions) -> list[str]:
    before = sum(len(f.content) for f in current.files)
    after = sum(len(f.content) for f in candidate.files)
    problems = []
    if after // 4 > limits.max_prompt_tokens:
        problems.append(
            f"the candidate is about {after // 4} tokens "
            f"(limit training.max_prompt_tokens={limits.max_prompt_tokens})"
        )
    grown = after - before
    if before and grown > GROWTH_FLOOR and grown * 100 > limits.max_growth_pct * before:
        problems.append(
            f"the candidate grows the prompts by {(after - before) * 100 // before}% "
            f"(limit training.max_growth_pct={limits.max_growth_pct})"
        )
    return problems


def _keep_problems(candidate: Candidate, current: PromptSet) -> list[str]:
    """Lines marked ``prompt-trainer: keep`` must survive verbatim in the same file."""
    after = {f.path: f.content.split("\n") for f in candidate.files}
    problems = []
    for file in current.files:
        for line in file.content.split("\n"):
            if KEEP_MARKER in line and line not in after.get(file.path, []):
                problems.append(f"{file.path}: a line marked '{KEEP_MARKER}' was changed: {line}")
    return problems


def words(text: str) -> list[str]:
    """Lowercased words without punctuation, after NFKC, with invisible characters (zero-width
    spaces, joiners, soft hyphens) and URLs (checked on their own) removed: what the copy check
    compares."""
    flat = URL.sub(" ", INVISIBLE.sub("", unicodedata.normalize("NFKC", text)))
    return WORD.findall(flat.casefold())


def shingles(items: list[str]) -> set[tuple[str, ...]]:
    return {tuple(items[n : n + SHINGLE]) for n in range(len(items) - SHINGLE + 1)}


def _copy_problems(
    candidate: Candidate, outside: list[Labelled], *, current: PromptSet
) -> list[str]:
    """The candidate's new text may not share a run of ``SHINGLE`` words (case, punctuation,
    line breaks and invisible characters ignored; runs the current prompts have are not new)
    with any outside text, nor add a URL or a download piped to a shell that the outside text
    has and the current prompts do not."""
    added = "\n".join(new_text(candidate, current).values())
    if not added.strip() or not outside:
        return []
    problems: list[str] = []
    before = "\n".join(f.content for f in current.files)
    written = shingles(words(added)) - shingles(words(before))
    for label, text in outside:
        shared = _first_shared(words(text), written)
        if shared:
            problems.append(f"the candidate copies outside text ({label}): {' '.join(shared)!r}")
            break
    return problems + _link_problems(added, [t for _, t in outside], before=before.casefold())


def _first_shared(items: list[str], written: set[tuple[str, ...]]) -> tuple[str, ...] | None:
    for n in range(len(items) - SHINGLE + 1):
        if (shingle := tuple(items[n : n + SHINGLE])) in written:
            return shingle
    return None


def _link_problems(added: str, outside: list[str], *, before: str) -> list[str]:
    """New URLs and shell pipes in the candidate that come from the evidence."""
    problems = []
    lowered = [t.casefold() for t in outside]
    for url in sorted({m.rstrip(".,;:!?'\"`)]>*_") for m in URL.findall(added)}):
        key = url.casefold()
        if key not in before and any(key in t for t in lowered):
            problems.append(f"the candidate adds a URL found in outside text: {url[:120]!r}")
    pipes = [m.group(0) for m in SHELL_PIPE.finditer(" ".join(added.split()))]
    if pipes and any(SHELL_PIPE.search(" ".join(t.split())) for t in outside):
        kept = " ".join(before.split())
        for pipe in pipes:
            if pipe.casefold() not in kept:
                problems.append(
                    f"the candidate adds a download piped to a shell, as outside text does: "
                    f"{pipe[:120]!r}"
                )
    return problems


def _subagent_problems(candidate: Candidate, current: PromptSet, target: Target) -> list[str]:
    main_path = current.main.path
    existing = {f.path for f in current.files}
    names: list[str] = []
    problems: list[str] = []
    for file in candidate.files:
        if file.path == main_path:
            continue
        meta, _ = split_frontmatter(file.content)
        name = str(meta.get("name", ""))
        if not name or not meta.get("description"):
            problems.append(f"{file.path}: frontmatter needs a name and a description")
        elif bad := subagent_name_problem(name):
            problems.append(f"{file.path}: {bad}")
        elif file.path not in existing and file.path != subagent_path(target, name):
            problems.append(
                f"{file.path}: a new subagent {name!r} belongs at {subagent_path(target, name)}"
            )
        names.append(name)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"subagent names are not unique: {', '.join(repeated)}")
    if len(names) > target.max_subagents:
        problems.append(f"{len(names)} subagents, more than max_subagents={target.max_subagents}")
    return problems


def run_eval_command(
    command: str,
    current: PromptSet,
    candidate: Candidate,
    *,
    root: Path,
    timeout_s: int,
    max_report_bytes: int,
    env: Mapping[str, str],
    repeat: int = 1,
) -> EvalCommandResult:
    """Run ``command`` ``repeat`` times for the current prompts, then for the candidate; parse
    each JUnit file. ``env`` is the whole environment the command gets (see
    ``Settings.command_env``). Pass rates are the means over the runs; ``spread`` is the widest
    range of one prompt set's runs."""
    rates: list[tuple[float | None, int]] = []
    spread = 0.0
    for files in (current.files, candidate.files):
        runs = []
        for _ in range(repeat):
            outcome = _one_eval(command, files, root, timeout_s, max_report_bytes, base_env=env)
            if isinstance(outcome, str):
                return EvalCommandResult(command=command, problem=outcome, repeat=repeat)
            runs.append(outcome)
        known = [rate for rate, _ in runs if rate is not None]
        spread = max(spread, max(known) - min(known) if known else 0.0)
        rates.append((sum(known) / len(known) if known else None, runs[-1][1]))
    (before, n_before), (after, n_after) = rates
    return EvalCommandResult(
        command=command,
        current_pass_rate=before,
        candidate_pass_rate=after,
        current_tests=n_before,
        candidate_tests=n_after,
        repeat=repeat,
        spread=spread,
    )


def _one_eval(
    command: str,
    files: tuple[PromptFile, ...],
    root: Path,
    timeout_s: int,
    max_report_bytes: int,
    *,
    base_env: Mapping[str, str],
) -> tuple[float | None, int] | str:
    with tempfile.TemporaryDirectory(prefix="prompt-trainer-eval-") as tmp:
        prompts = Path(tmp) / "prompts"
        for file in files:
            path = prompts.joinpath(*PurePosixPath(file.path).parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file.content, encoding="utf-8")
        junit = Path(tmp) / "junit.xml"
        env = {
            **base_env,
            "PROMPT_TRAINER_PROMPTS_DIR": str(prompts),
            "PROMPT_TRAINER_JUNIT": str(junit),
        }
        try:
            done = subprocess.run(  # noqa: S603 - the repository's own configured command
                ["bash", "-c", command],  # noqa: S607
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"eval_command timed out after {timeout_s} s"
        except OSError as exc:
            return f"eval_command could not start: {exc}"
        if not junit.exists():
            tail = (done.stderr or done.stdout).strip()[-300:]
            return (
                f"eval_command exited {done.returncode} without writing $PROMPT_TRAINER_JUNIT"
                + (f": {tail}" if tail else "")
            )
        report = parse_report(
            junit, source="eval_command", max_bytes=max_report_bytes, max_text=200
        )
    if isinstance(report, Skipped):
        return f"eval_command's JUnit report is unusable: {report.reason}"
    counts = report.counts()
    ran = counts["tests"] - counts["skipped"]
    return (counts["passed"] / ran if ran else None), ran


def eval_problems(result: EvalCommandResult) -> list[str]:
    """The authoritative verdict: a failed evaluation, or a pass rate lower by more than the
    run-to-run spread (``training.eval_repeat``), blocks."""
    if result.problem:
        return [result.problem]
    if result.delta is not None and result.delta < 0 and -result.delta > result.spread:
        runs = f" (mean of {result.repeat} runs each)" if result.repeat > 1 else ""
        return [
            f"eval_command: the candidate passes {result.candidate_pass_rate:.0%} of "
            f"{result.candidate_tests} tests, the current prompts {result.current_pass_rate:.0%}"
            + runs
        ]
    return []


@dataclass(frozen=True)
class Evaluated:
    """The candidate (with its ``eval_command`` result, when one ran) and the verdict."""

    candidate: Candidate
    gate: GateResult


def replay_problems(result: ReplayResult) -> list[str]:
    """A replay verdict of "worse" blocks (``training.gate: replay``)."""
    if result.verdict != "worse":
        return []
    p = f", sign test p={result.p_value:.2g}" if result.p_value is not None else ""
    return [
        f"replay: the candidate passes fewer held-out tasks than the current prompts "
        f"({result.candidate_better} of {result.decided_tasks} differing tasks better{p})"
    ]


def replay_gate(
    candidate: Candidate,
    target: Target,
    *,
    samples: list[Sample],
    settings: Settings,
    not_run: str,
    log: Callable[[str], None],
) -> tuple[Candidate, list[str]]:
    """Replay the candidate against the current prompts, or record why it was not run."""
    options = settings.config.replay
    if not_run:
        log(f"evaluate: replay not run for {target.name}: {not_run}")
        return candidate.model_copy(
            update={"replay": ReplayResult(target=target.name, not_run=not_run)}
        ), []
    if not options.agent_command or not options.test_command:
        return candidate, [
            "training.gate is replay, but replay.agent_command and replay.test_command are "
            "not both set"
        ]
    from prompt_trainer.replay import replay  # noqa: PLC0415 - only with gate: replay

    log(f"evaluate: replaying held-out tasks for {target.name} (current, candidate)")
    result = replay(settings, target, candidate.files, samples, log=log)
    return candidate.model_copy(update={"replay": result}), replay_problems(result)


def evaluate_candidate(
    candidate: Candidate,
    current: PromptSet,
    target: Target,
    *,
    samples: list[Sample],
    settings: Settings,
    log: Callable[[str], None],
    replay_skipped: str = "",
    shown: Sequence[Labelled] = (),
) -> Evaluated:
    """The evaluate step of a run: the guardrails, then ``training.eval_command`` (when set, the
    candidate changes the prompts and no earlier run measured it), its problems added, then the
    replay with ``training.gate: replay`` (``replay_skipped`` says why this run may not).
    ``shown``: outside text the model read beside the samples (``Memory.outside``)."""
    training = settings.config.training
    gate = check_candidate(
        candidate, current, target, samples=samples, shown=shown, limits=training
    )
    changed = candidate.fingerprint != current.version
    if training.gate == "replay" and changed and candidate.replay is None:
        candidate, problems = replay_gate(
            candidate, target, samples=samples, settings=settings, not_run=replay_skipped, log=log
        )
        gate = GateResult(gate.problems + tuple(problems))
    if not training.eval_command or not changed or candidate.eval_command is not None:
        return Evaluated(candidate, gate)
    log(f"evaluate: running eval_command for {target.name} (current, then candidate)")
    result = run_eval_command(
        training.eval_command,
        current,
        candidate,
        root=settings.root,
        timeout_s=training.eval_timeout_s,
        max_report_bytes=settings.config.limits.max_report_bytes,
        env=settings.command_env(),
        repeat=training.eval_repeat,
    )
    return Evaluated(
        candidate.model_copy(update={"eval_command": result}),
        GateResult(gate.problems + tuple(eval_problems(result))),
    )
