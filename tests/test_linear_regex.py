"""Regular expressions applied to outside text take time in proportion to it.

Counted, not timed: the suggestion-block reader is counted in ``test_reviews.py``; here every
pattern the package applies to outside text is read by a lint over its parse tree for the shape
that makes an engine like Python's quadratic (or worse): two unbounded repeats that can match
the same characters with nothing required between them (``\\s*:?\\s+``, ``\\s*[:=]?\\s*``,
``.*?^[ \\t]*``), where a long run is split every possible way before the match fails. The lint
is checked against the patterns that had that shape, so it is not vacuous. Where a pattern
could also start again inside its own run (``\\beyJ[...]+\\.``, ``\\b[\\w.-]+/``), the start is
pinned with a lookbehind; those patterns are listed in ``PINNED`` and checked to refuse a start
inside the run. ``excerpt`` reads a bounded window of any text (``test_excerpt_reads_a_window``).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from prompt_trainer import redact as redact_module
from prompt_trainer.cli import runner
from prompt_trainer.collect import github_pr, reviews
from prompt_trainer.collect.traces import _reader as trace_reader
from prompt_trainer.collect.traces import codex_rollout, openhands, otel, swe_agent
from prompt_trainer.evaluate import verdicts
from prompt_trainer.evaluate.guardrails import INVISIBLE, SHELL_PIPE, URL, WORD
from prompt_trainer.github import fetch
from prompt_trainer.loop import dashboard, revision
from prompt_trainer.measure import facts, patterns
from prompt_trainer.redact import excerpt, held, shapes
from prompt_trainer.render import filters
from prompt_trainer.setup import prompt_files
from prompt_trainer.train import evidence, restate, support

# The standard library's own regular-expression parser and compiler, for the lint (private
# modules typeshed does not describe).
_parser: Any = importlib.import_module("re._parser")
_compiler: Any = importlib.import_module("re._compiler")
_constants: Any = importlib.import_module("re._constants")

#: Every pattern the package applies to text from outside (or to text a model wrote from it).
OUTSIDE: dict[str, re.Pattern[str]] = {
    "reviews.OPENING": reviews.OPENING,
    "github_pr.CLOSES": github_pr.CLOSES,
    **{f"redact.{s.kind}#{n}": s.pattern for n, s in enumerate(redact_module.SHAPES)},
    "redact._WORD": shapes._WORD,
    "redact.ANSI": redact_module.ANSI,
    "redact.BREAK": held.BREAK,
    **{f"facts.{k}": v for k, v in vars(facts).items() if isinstance(v, re.Pattern)},
    "patterns._TOKEN": patterns._TOKEN,
    "evidence.ACCEPTING": evidence.ACCEPTING,
    **{f"facts._KEY_NOISE#{n}": p for n, (p, _) in enumerate(facts._KEY_NOISE)},
    "evaluate.WORD": WORD,
    "evaluate.URL": URL,
    "evaluate.INVISIBLE": INVISIBLE,
    "evaluate.SHELL_PIPE": SHELL_PIPE,
    **{f"verdicts.{k}": v for k, v in vars(verdicts).items() if isinstance(v, re.Pattern)},
    **{f"verdicts.WORDS.{effect}": word for effect, word in verdicts.WORDS},
    **{f"filters.{k}": v for k, v in vars(filters).items() if isinstance(v, re.Pattern)},
    "runner.LINE_BREAK": runner.LINE_BREAK,
    "runner.COMMAND_START": runner.COMMAND_START,
    "revision.COMMAND": revision.COMMAND,
    "dashboard.CHECKBOX": dashboard.CHECKBOX,
    **{f"restate.{k}": v for k, v in vars(restate).items() if isinstance(v, re.Pattern)},
    "support.CODE": support.CODE,
    **{
        f"{module.__name__}.{k}": v
        for module in (codex_rollout, openhands, otel, swe_agent, trace_reader)
        for k, v in vars(module).items()
        if isinstance(v, re.Pattern)
    },
}
JWT = next(s.pattern for s in redact_module.SHAPES if s.kind == "jwt")
#: The shapes this lint exists to find: the patterns as they were.
QUADRATIC = {
    "suggestion block": r"^[ \t]*(`{3,}|~{3,})[ \t]*suggestion[^\n]*\n(.*?)^[ \t]*\1[ \t]*$",
    "closing keyword": r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b",
    "aws secret": r"(?i)(?P<pre>secret_?access_?key\\?[\"']?\s*[:=]?\s*\\?[\"']?)(?P<value>x)",
}
ALPHABET = [chr(c) for c in range(128)] + list("\u00a0\u2028\u200b\u3000é€")
UNBOUNDED = _constants.MAXREPEAT
REPEATS = (_constants.MAX_REPEAT, _constants.MIN_REPEAT)
#: Elements that take no character: anchors and lookarounds.
EMPTY = (_constants.AT, _constants.ASSERT, _constants.ASSERT_NOT)


def adjacent_runs(pattern: str | re.Pattern[str]) -> list[str]:
    """Unbounded single-character repeats followed, with nothing required between them, by
    another unbounded repeat of overlapping characters (possessive repeats never backtrack and
    are left out)."""
    source = pattern if isinstance(pattern, str) else pattern.pattern
    flags = 0 if isinstance(pattern, str) else pattern.flags
    found: list[str] = []
    _walk(_parser.parse(source, flags), found)
    return found


def _walk(seq: Any, found: list[str]) -> None:
    items = _flat(seq)
    for n, (op, av) in enumerate(items):
        if op in REPEATS and av[1] == UNBOUNDED and _one_char(av[2]):
            chars = _chars(av[2])
            for op2, av2 in items[n + 1 :]:
                if op2 in EMPTY:
                    continue
                if op2 not in REPEATS:
                    break
                if av2[1] == UNBOUNDED and _one_char(av2[2]) and chars & _chars(av2[2]):
                    found.append(f"{op.name} then {op2.name}: {sorted(chars & _chars(av2[2]))[:5]}")
                if av2[0] > 0:
                    break
        for child in _children(op, av):
            _walk(child, found)


def _flat(seq: Any) -> list[Any]:
    """The elements of ``seq`` with groups opened: ``(.*?)^`` is ``.*?`` then ``^``."""
    items: list[Any] = []
    for op, av in seq:
        items += _flat(av[3]) if op == _constants.SUBPATTERN else [(op, av)]
    return items


def _children(op: Any, av: Any) -> list[Any]:
    if op in REPEATS or op == _constants.POSSESSIVE_REPEAT:
        return [av[2]] if op != _constants.POSSESSIVE_REPEAT else []
    if op == _constants.BRANCH:
        return list(av[1])
    if op in (_constants.ASSERT, _constants.ASSERT_NOT):
        return [av[1]]
    return []  # atomic groups never backtrack


def _one_char(sub: Any) -> bool:
    return bool(sub.getwidth() == (1, 1))


def _chars(sub: Any) -> frozenset[str]:
    single = _compiler.compile(sub)
    return frozenset(c for c in ALPHABET if single.fullmatch(c))


@pytest.mark.parametrize("name", sorted(QUADRATIC))
def test_the_lint_finds_the_shapes_that_were_quadratic(name: str) -> None:
    assert adjacent_runs(QUADRATIC[name]), name


@pytest.mark.parametrize("name", sorted(OUTSIDE))
def test_no_pattern_applied_to_outside_text_has_adjacent_overlapping_runs(name: str) -> None:
    assert adjacent_runs(OUTSIDE[name]) == [], name


#: Patterns whose run could fail after reading to its end, pinned to start only where the run
#: starts: (pattern, a text that matches from a start inside a run, that start). Unpinned, a
#: run like ``a-a-a-...`` or ``eyJ-eyJ-...`` was read again from each such start.
PINNED = [
    (facts._PATH, "a-src/app.py", 2),
    (facts._PATH, "v1.src/app.py", 3),
    (restate._PATH, "a-src/app.py", 2),
    (support.CODE, "a-src/app", 2),
    (restate._PATH, "api/v1/", 4),
    (restate._RUN, "test-fees.py", 5),
    (verdicts.SEPARATOR, "prevents   - it says so", 10),
    (verdicts.SEPARATOR, "prevents   because it says so", 10),
]


@pytest.mark.parametrize(("pattern", "text", "inside"), PINNED)
def test_a_pinned_pattern_never_starts_inside_its_own_run(
    pattern: re.Pattern[str], text: str, inside: int
) -> None:
    assert pattern.search(text) is not None  # it matches, from the start of the run
    assert pattern.match(text, inside) is None


def test_a_jwt_start_reads_a_bounded_header_and_still_finds_tokens_after_a_dash() -> None:
    jwt = JWT
    repeats = [av for op, av in _parser.parse(jwt.pattern) if op == _constants.POSSESSIVE_REPEAT]
    assert repeats[0][1] == redact_module.JWT_HEADER  # the header: at most this read per start
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXgtYg"
    assert jwt.search(f"x-{token}") and jwt.search(f"id_{token}")


def test_excerpt_reads_a_window_of_any_text(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = redact_module.redact

    def counted(text: str) -> str:
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(redact_module, "redact", counted)
    text = "secret_access_key" + " " * 1_000_000 + "x"
    shown = excerpt(text, 2_000)
    assert seen == [2_000 + redact_module.WINDOW_MARGIN]  # the input bound
    assert shown.endswith(f"… [{len(text) - 1_980} chars cut]")  # counted as before


#: Patterns of text from outside that the run-restart lint below must find (as they were).
RESTARTING = {
    "verdicts.SEPARATOR": r"\s+[-–—]\s+|:\s|\.\s|;\s|,\s|\s+because\s+",
    "prompt_files.LINK": r"\]\(\s*<?([^)\s>#]+)>?(?:#[^)]*)?\s*\)",
    "fetch.NEXT_LINK": r'<([^>]+)>;\s*rel="next"',
}
#: Module-level patterns of the setup and GitHub adapters that read text from outside too (a
#: repository's prompt files, a server's Link header).
OUTSIDE_TOO: dict[str, re.Pattern[str]] = {
    "prompt_files.LINK": prompt_files.LINK,
    "fetch.NEXT_LINK": fetch.NEXT_LINK,
}


def restarting_runs(pattern: str | re.Pattern[str]) -> list[str]:
    """An unbounded repeat that a search can enter again from inside its own run, and that must
    then be followed by a character the run cannot hold: on a long run without it, every start
    inside the run reads to the run's end (``\\s+-`` on spaces, ``<[^>]+>`` on ``<<<<``,
    ``\\](\\S+\\)`` on ``](](](``). Checked per top-level alternative; a lookaround before the
    repeat pins the start (``PINNED`` checks those)."""
    source = pattern if isinstance(pattern, str) else pattern.pattern
    flags = 0 if isinstance(pattern, str) else pattern.flags
    parsed = _parser.parse(source, flags)
    items = _flat(parsed)
    branches = [items]
    if len(items) == 1 and items[0][0] == _constants.BRANCH:
        branches = [_flat(b) for b in items[0][1][1]]
    return [found for branch in branches if (found := _restart(branch, parsed.state))]


def _restart(items: list[Any], state: Any) -> str:
    prefix: list[frozenset[str]] = []
    for n, (op, av) in enumerate(items):
        if op in EMPTY:
            return ""  # a lookaround before the run pins where it may start
        one = op in (*REPEATS, _constants.POSSESSIVE_REPEAT) and _one_char(av[2])
        if one and av[1] == UNBOUNDED:
            run = _chars(av[2])
            after = _required_after(items[n + 1 :], state)
            spelled = all(chars & run for chars in prefix)  # a start inside the run can match
            if spelled and after and not (after & run):
                return f"{op.name} of {sorted(run)[:5]}..."
            if av[0] > 0:
                prefix.append(run)
            continue
        if one and av[0] == 0:
            continue  # optional: a start need not spell it
        single = _parser.SubPattern(state, [(op, av)])
        if single.getwidth() != (1, 1):
            return ""
        prefix.append(_chars(single))
    return ""


def _required_after(items: list[Any], state: Any) -> frozenset[str]:
    """The characters of the first required one-character element after a run."""
    for op, av in items:
        if op in (*REPEATS, _constants.POSSESSIVE_REPEAT) and av[0] == 0:
            continue
        if op in EMPTY:
            continue
        if op in (*REPEATS, _constants.POSSESSIVE_REPEAT):
            return _chars(av[2]) if _one_char(av[2]) else frozenset()
        single = _parser.SubPattern(state, [(op, av)])
        return _chars(single) if single.getwidth() == (1, 1) else frozenset()
    return frozenset()


@pytest.mark.parametrize("name", sorted(RESTARTING))
def test_the_restart_lint_finds_the_shapes_that_were_quadratic(name: str) -> None:
    assert restarting_runs(RESTARTING[name]), name


@pytest.mark.parametrize("name", sorted(OUTSIDE | OUTSIDE_TOO))
def test_no_pattern_applied_to_outside_text_restarts_inside_its_own_run(name: str) -> None:
    assert restarting_runs((OUTSIDE | OUTSIDE_TOO)[name]) == [], name
