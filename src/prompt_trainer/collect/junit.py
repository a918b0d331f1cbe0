"""JUnit XML reports -> ``TestRun``, for every dialect in the wild (see docs/junit.md).

A report is streamed through expat (C) in 256 KiB chunks with small Python handlers; no element
tree is built (``collect.xmlfeed`` feeds expat: it decodes encodings expat cannot read and cuts
tokens too long to parse whole). Each ``<testcase>`` is reduced to a ``_RawCase`` (attributes,
result elements, capped texts) and folded into exact counts as soon as it closes; a test whose
name repeats is held back until its suite (or the report) tells whether the repeats are distinct
tests or attempts of one. Only a bounded number of problem cases become ``TestCase`` records,
and suite paths stop growing at a cap, so memory is linear in the input and small on huge
reports.

Safety: a DTD with an internal subset or an external id, and any entity declaration, stop the
parse (``refused unsafe XML``); parameter entities are never parsed, so nothing is expanded or
fetched, and an undefined entity is a parse error. The first element must be ``<testsuites>``
or ``<testsuite>`` (namespaced or not).

Departure from the one-module-per-dependency rule: junitparser is not used to read reports.
Building its element tree and wrapping each case in its classes is several times slower than
this parse (``bench/ingest.py`` prints both); the counting rules it encodes are small and are
written here and in docs/junit.md.
"""

from __future__ import annotations

import pyexpat
from dataclasses import dataclass, field
from pathlib import Path

from prompt_trainer.collect.per_file import internal_error
from prompt_trainer.collect.xmlfeed import Refused, feed_file
from prompt_trainer.identities import Identities
from prompt_trainer.models import Skipped, TestCase, TestCounts, TestRun, TestStatus
from prompt_trainer.redact import clean_name, excerpt

ROOT_TAGS = ("testsuites", "testsuite")
#: ``status=``/``result=`` values (GoogleTest, CTest, Xcode...) that mean the test did not run.
NOT_RUN = frozenset({"notrun", "disabled", "skipped", "skip", "suppressed", "ignored"})
RESULT_TAGS = frozenset(
    {"failure", "error", "skipped", "flakyFailure", "flakyError", "rerunFailure", "rerunError"}
)
#: Problem cases kept as records per report (failures, errors, flaky passes); counts stay exact.
MAX_KEPT_CASES = 500
#: Skipped cases kept as records per report (they are counted, rarely read).
MAX_KEPT_SKIPPED = 100
#: Kept cases with full texts; later ones keep a short message only (bounded memory).
DETAILED_CASES = 200
SHORT_MESSAGE = 300
MAX_PROPERTIES = 50
#: Characters of a property's value kept (``excerpt`` cuts it to this after redaction).
PROPERTY_CHARS = 500
#: Raw characters captured per text before redaction and the final cut.
CAPTURE_MARGIN = 512
#: Suite paths listed per report, and the length of one path or label (deep nesting is hostile).
MAX_SUITES = 1_000
MAX_SUITE_PATH = 1_000
MAX_LABEL = 200
#: Root ``name=`` of writers whose repeated names are distinct tests (they never write reruns
#: as elements): jest-junit (``jest tests``). See docs/junit.md for the evidence.
DISTINCT_WRITERS = frozenset({"jest tests"})
#: Root ``name=`` of writers that put every retry's error into one ``<testcase>`` (Vitest).
RETRY_CHILDREN_WRITERS = frozenset({"vitest tests"})
_STATUS_INDEX: dict[str, int] = {"passed": 0, "failed": 1, "error": 2, "skipped": 3}
#: Result elements that fail a case, strongest first.
_FAILING: tuple[tuple[str, TestStatus], ...] = (("failure", "failed"), ("error", "error"))


def parse_report(
    path: Path, *, source: str, max_bytes: int, max_text: int = 2_000
) -> TestRun | Skipped:
    """Parse one report file; every problem with the file is returned as ``Skipped``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            reason = f"report is {size} bytes, over the {max_bytes} cap"
            return Skipped(source=source, reason=reason)
        return _Reader(source=source, max_text=max_text).read(path)
    except OSError as exc:
        return Skipped(source=source, reason=f"cannot read file: {exc.strerror or exc}")
    except Refused as exc:
        return Skipped(source=source, reason=str(exc))
    except pyexpat.ExpatError as exc:
        return Skipped(source=source, reason=f"malformed XML: {exc}")
    except UnicodeDecodeError as exc:
        reason = f"not valid {exc.encoding}: cannot decode byte(s) at offset {exc.start}"
        return Skipped(source=source, reason=reason)
    except RecursionError:
        return Skipped(source=source, reason="malformed XML: nested too deeply")
    except ValueError as exc:  # what expat or a codec raises on other bytes it cannot take
        return Skipped(source=source, reason=f"unreadable report: {exc}")
    except Exception as exc:  # a bug this file reached (collect/per_file.py)
        return internal_error(source, exc, what="report")


def _local(tag: str) -> str:
    """Strip a namespace prefix: ``x:testcase`` -> ``testcase``."""
    return tag if ":" not in tag else tag.rsplit(":", 1)[-1]


@dataclass
class _Result:
    """A result child of a ``<testcase>`` (``<failure>``, ``<flakyError>``...)."""

    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)


class _RawCase:
    """One ``<testcase>`` element as read: attributes, results and capped texts.

    A plain class with slots: one is made per test case, on the hot path."""

    __slots__ = ("attrs", "properties", "results", "system_err", "system_out")

    def __init__(self, attrs: dict[str, str]) -> None:
        self.attrs = attrs
        self.results: list[_Result] = []
        self.system_out: list[str] = []
        self.system_err: list[str] = []
        self.properties: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)


class _Attempt:
    """One ``<testcase>`` element's verdict, and its record when one is kept."""

    __slots__ = ("case", "executions", "flaky", "index", "status")

    def __init__(
        self, status: TestStatus, executions: int, flaky: bool, case: TestCase | None
    ) -> None:
        self.status = status
        self.executions = executions
        self.flaky = flaky
        self.case = case
        self.index = -1  # position in ``_Reader.kept`` while counted there


class _Suite:
    """An open ``<testsuite>``: its path, declared ``tests=``, the elements seen inside it so
    far, and the repeated identities first repeated inside it (settled when it closes)."""

    __slots__ = ("count", "declared", "depth", "path", "pending")

    def __init__(self, depth: int, path: str, declared: int | None) -> None:
        self.depth = depth
        self.path = path
        self.declared = declared
        self.count = 0
        self.pending: list[int] = []


@dataclass
class _Reader:
    """Expat handlers that stream one report into exact counts and a bounded set of cases.

    A test seen once is settled when its element closes. A test whose identity repeats is
    held in ``groups`` until the end, where the writer and the declared counts decide whether
    the repeats are distinct tests or attempts of one (``_settle``)."""

    source: str
    max_text: int
    kept: list[TestCase | None] = field(default_factory=list)
    live: int = 0
    skipped_kept: int = 0
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    flaky: int = 0
    executions: int = 0
    #: Every test identity (a hash) seen; ``first`` holds the ones that did not plainly pass.
    seen: Identities = field(default_factory=Identities)
    first: dict[int, _Attempt] = field(default_factory=dict)
    groups: dict[int, list[_Attempt]] = field(default_factory=dict)
    #: Repeated identity -> True when its suite's declared count says "attempts".
    modes: dict[int, bool] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)
    suites: dict[str, None] = field(default_factory=dict)
    elements: int = 0
    writer: str = ""
    #: Written by a Go tool (a ``go.version`` suite property): repeats are reruns.
    go: bool = False
    declared_root: int | None = None
    declared_sum: int | None = None
    _depth: int = 0
    #: Open suites, innermost last.
    _suite_stack: list[_Suite] = field(default_factory=list)
    _suite: str = ""
    _case: _RawCase | None = None
    _case_depth: int = 0
    _sink: list[str] | None = None
    _sink_depth: int = 0
    _sink_chars: int = 0
    _parser: pyexpat.XMLParserType | None = None
    cut_notes: list[str] = field(default_factory=list)

    def read(self, path: Path) -> TestRun:
        self.cut_notes = feed_file(path, self._make_parser)
        return self._run()

    def _make_parser(self, encoding: str | None) -> pyexpat.XMLParserType:
        parser = self._parser = pyexpat.ParserCreate(encoding)
        parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text = True
        parser.StartDoctypeDeclHandler = _doctype
        parser.EntityDeclHandler = _entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        return parser

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        """An element outside any ``<testcase>``; inside one, ``_case_start`` is installed."""
        depth = self._depth = self._depth + 1
        tag = name if ":" not in name else name.rsplit(":", 1)[-1]
        if tag == "testcase":
            self._case = _RawCase(attrs)
            self._case_depth = depth
            parser = self._parser
            if parser is not None:
                parser.StartElementHandler = self._case_start
                parser.EndElementHandler = self._case_end
        elif tag == "testsuite":
            self._open_suite(attrs, depth)
        elif tag == "property" and attrs.get("name") == "go.version":
            self.go = True  # gotestsum / go-junit-report: a Go test name is unique per package
        if depth == 1:
            if tag not in ROOT_TAGS:
                raise Refused(f"not a JUnit report: root element is <{name}>")
            self.declared_root = _int(attrs.get("tests"))
            self.writer = attrs.get("name") or ""

    def _open_suite(self, attrs: dict[str, str], depth: int) -> None:
        """Push a suite. Its dotted path is built once, from its parent's, and stops growing at
        ``MAX_SUITE_PATH``: 40,000 nested suites cost memory linear in the input."""
        raw = attrs.get("name") or attrs.get("id") or f"#{len(self._suite_stack) + 1}"
        label = clean_name(raw, MAX_LABEL)  # redacted: suite names reach the model
        parent = self._suite
        if len(parent) >= MAX_SUITE_PATH:
            path = parent
        else:
            path = (f"{parent}.{label[:MAX_LABEL]}" if parent else label[:MAX_LABEL])[
                :MAX_SUITE_PATH
            ]
        declared = _int(attrs.get("tests"))
        self._suite_stack.append(_Suite(depth, path, declared))
        self._suite = path
        if len(self.suites) < MAX_SUITES:
            self.suites[path] = None
        if depth == 2 and declared is not None:
            self.declared_sum = (self.declared_sum or 0) + declared

    def _case_start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self._depth = self._depth + 1
        case = self._case
        if self._sink is None and case is not None:  # else markup inside a captured text
            self._case_child(case, name if ":" not in name else _local(name), attrs, depth)

    def _case_end(self, name: str) -> None:
        depth = self._depth
        self._depth = depth - 1
        if depth == self._sink_depth and self._sink is not None:
            self._sink = None
            if self._parser is not None:
                self._parser.CharacterDataHandler = None
        case = self._case
        if depth == self._case_depth and case is not None:
            self._case = None
            parser = self._parser
            if parser is not None:
                parser.StartElementHandler = self._start
                parser.EndElementHandler = self._end
            self._add(case)

    def _case_child(self, case: _RawCase, tag: str, attrs: dict[str, str], depth: int) -> None:
        """Results, texts and properties of a case. Output is captured only once the case
        has a result (every writer puts ``system-out`` after it): a passing case's output
        is never read."""
        relative = depth - self._case_depth
        if relative == 1 and tag in RESULT_TAGS:
            result = _Result(tag, attrs)
            case.results.append(result)
            self._capture(result.text, depth)
        elif relative == 2 and tag == "stackTrace" and case.results:
            self._capture(case.results[-1].text, depth)
        elif relative == 1 and tag == "system-out":
            if case.results or "status" in case.attrs or "result" in case.attrs:
                self._capture(case.system_out, depth)
        elif relative == 1 and tag == "system-err":
            if case.results or "status" in case.attrs or "result" in case.attrs:
                self._capture(case.system_err, depth)
        elif (
            relative == 2
            and tag == "property"
            and len(case.properties) < MAX_PROPERTIES
            and (name := attrs.get("name"))
        ):
            case.properties[name] = attrs.get("value", "")[: PROPERTY_CHARS + CAPTURE_MARGIN]

    def _capture(self, sink: list[str], depth: int) -> None:
        """Collect character data into ``sink`` until the element at ``depth`` closes (the
        handler is only installed meanwhile: whitespace between elements costs nothing)."""
        self._sink, self._sink_depth, self._sink_chars = sink, depth, 0
        if self._parser is not None:
            self._parser.CharacterDataHandler = self._text

    def _text(self, data: str) -> None:
        sink = self._sink
        if sink is not None and self._sink_chars < self.max_text + CAPTURE_MARGIN:
            sink.append(data)
            self._sink_chars += len(data)

    def _end(self, name: str) -> None:
        depth = self._depth
        self._depth = depth - 1
        stack = self._suite_stack
        if stack and depth == stack[-1].depth:
            self._close_suite(stack.pop())

    def _close_suite(self, suite: _Suite) -> None:
        """Pass the suite's counts up; settle how its repeated names read, or defer upwards
        when its declared count says nothing."""
        stack = self._suite_stack
        self._suite = stack[-1].path if stack else ""
        if stack:
            stack[-1].count += suite.count
        if not suite.pending:
            return
        mode = _mode(suite.declared, suite.count)
        if mode is None:
            (stack[-1].pending if stack else self.pending).extend(suite.pending)
        else:
            self.modes.update(dict.fromkeys(suite.pending, mode))

    def _add(self, raw: _RawCase) -> None:
        """Fold one ``<testcase>``: settle a test seen once, hold back a repeated identity."""
        self.elements += 1
        stack = self._suite_stack
        if stack:
            stack[-1].count += 1
        attrs = raw.attrs
        name = attrs.get("name")
        plain = not raw.results and "status" not in attrs and "result" not in attrs
        if name is None:  # no name: a distinct test, never merged with another
            self._count(self._attempt(raw, plain=plain), 1)
            return
        classname = attrs.get("classname") or attrs.get("class") or ""
        key = hash(
            (self._suite, classname, name, attrs.get("file") or attrs.get("filepath") or None)
        )
        if not self.seen.add(key):
            if plain:  # the hot path: a plain pass seen once
                self.counts[0] += 1
                self.executions += 1
                return
            attempt = self.first[key] = self._attempt(raw, plain=False)
            self._count(attempt, 1)
            return
        self._repeat(key, self._attempt(raw, plain=plain, always=True))

    def _repeat(self, key: int, attempt: _Attempt) -> None:
        group = self.groups.get(key)
        if group is None:
            prior = self.first.get(key) or _Attempt("passed", 1, False, None)
            self._count(prior, -1)
            group = self.groups[key] = [prior]
            stack = self._suite_stack
            (stack[-1].pending if stack else self.pending).append(key)
        group.append(attempt)

    def _count(self, attempt: _Attempt, sign: int) -> None:
        """Add (``sign=1``) or take back (``-1``) one settled test."""
        self.counts[_STATUS_INDEX[attempt.status]] += sign
        self.flaky += sign * attempt.flaky
        self.executions += sign * attempt.executions
        if sign < 0 and attempt.index >= 0:
            self.kept[attempt.index] = None
            self.live -= 1
            self.skipped_kept -= attempt.status == "skipped"
            attempt.index = -1
        elif sign > 0 and attempt.case is not None and self._room(attempt.status, attempt.flaky):
            attempt.index = len(self.kept)
            self.kept.append(attempt.case)
            self.live += 1
            self.skipped_kept += attempt.status == "skipped"

    def _room(self, status: TestStatus, flaky: bool) -> bool:
        if status == "passed" and not flaky:
            return False
        if status == "skipped":
            return self.skipped_kept < MAX_KEPT_SKIPPED
        return self.live - self.skipped_kept < MAX_KEPT_CASES

    def _attempt(self, raw: _RawCase, *, plain: bool, always: bool = False) -> _Attempt:
        """One element's verdict; its record is built when it may be kept (or, for a repeat,
        always: a plain pass that turns out to be an earlier attempt needs its name)."""
        if plain:
            status: TestStatus = "passed"
            result, executions, flaky = None, 1, False
        else:
            status, result, executions, flaky = _outcome(
                raw, retry_children=self.writer in RETRY_CHILDREN_WRITERS
            )
        case = None
        if always or self._room(status, flaky):
            case = self._make(raw, status, result, executions=executions, flaky=flaky)
        return _Attempt(status, executions, flaky, case)

    def _make(
        self,
        raw: _RawCase,
        status: TestStatus,
        result: _Result | None,
        *,
        executions: int,
        flaky: bool,
    ) -> TestCase:
        detailed = self.live < DETAILED_CASES and status != "skipped"  # a reason is enough
        limit = self.max_text if detailed else SHORT_MESSAGE
        message = (result.attrs.get("message") or "") if result is not None else ""
        text = "".join(result.text).strip() if result is not None else ""
        if not detailed:
            message, text = message or text, ""
        return TestCase(
            suite=self._suite,
            classname=clean_name(_classname(raw)),
            name=clean_name(raw.get("name") or ""),
            status=status,
            message=excerpt(message, limit) if message else "",
            type=clean_name(result.attrs.get("type") or "") if result is not None else "",
            text=excerpt(text, limit) if text else "",
            system_out=_text_of(raw.system_out, limit) if detailed else "",
            system_err=_text_of(raw.system_err, limit) if detailed else "",
            duration_s=_float(raw.get("time")),
            file=_file(raw),
            line=_int(raw.get("line") or raw.get("lineno")),
            properties={k: excerpt(v, PROPERTY_CHARS) for k, v in raw.properties.items()},
            flaky=flaky,
            attempt=executions,
        )

    def _report_mode(self) -> bool:
        """How repeats read where no suite's declared count decided (docs/junit.md)."""
        mode = _mode(self.declared_root, self.elements)
        return True if mode is None else mode

    def _settle(self) -> set[int]:
        """Settle every repeated identity; returns the keys that never passed."""
        failing: set[int] = set()
        fallback = self._report_mode()
        distinct_writer = self.writer in DISTINCT_WRITERS
        for key, group in self.groups.items():
            attempts = self.go or (not distinct_writer and self.modes.get(key, fallback))
            settled = [_verdict(group)] if attempts else group
            for attempt in settled:
                self._count(attempt, 1)
            if not any(a.status == "passed" for a in settled):
                failing.add(key)
        return failing

    def _run(self) -> TestRun:
        groups, seen = self.groups, self.seen
        for key in self._settle():
            seen.exclude(key)
        for key, attempt in self.first.items():
            if attempt.status != "passed" and key not in groups:
                seen.exclude(key)
        declared = self.declared_root if self.declared_root is not None else self.declared_sum
        cases = tuple(c for c in self.kept if c is not None)
        tests = sum(self.counts)
        return TestRun(
            source=self.source,
            cases=cases,
            plain_passes=self.counts[0] - sum(1 for c in cases if c.status == "passed"),
            suites=tuple(self.suites),
            declared_tests=declared,
            notes=tuple(self._notes(declared, tests, len(cases))),
            passed_ids=seen,
            totals=TestCounts(
                tests=tests,
                passed=self.counts[0],
                failed=self.counts[1],
                errors=self.counts[2],
                skipped=self.counts[3],
                flaky=self.flaky,
                attempts=self.executions,
            ),
        )

    def _notes(self, declared: int | None, tests: int, kept: int) -> list[str]:
        notes: list[str] = list(self.cut_notes)
        if declared is not None and declared not in (self.elements, tests):
            notes.append(
                f"the report declares tests={declared} but holds {self.elements} <testcase> "
                "element(s); the elements were counted"
            )
        if self.groups:
            notes.append(f"{len(self.groups)} test name(s) repeat; read per docs/junit.md")
        problems = tests - self.counts[0] + self.flaky
        if kept < problems:
            notes.append(f"{kept} of {problems} problem cases kept as records; counts are exact")
        if kept > DETAILED_CASES:
            notes.append(
                f"full texts kept for the first {DETAILED_CASES} of {kept} cases; "
                "the rest keep a short message"
            )
        if len(self.suites) >= MAX_SUITES:
            notes.append(f"only the first {MAX_SUITES} suite paths are listed")
        return notes


def _mode(declared: int | None, elements: int) -> bool | None:
    """What a declared ``tests=`` says about repeated names among ``elements`` test cases:
    equal means distinct tests (False), fewer means attempts (True), else nothing (None)."""
    if declared is None or declared > elements:
        return None
    return declared < elements


def _verdict(group: list[_Attempt]) -> _Attempt:
    """Attempts of one test: the last one decides; a pass after a rerun is flaky, and keeps
    the last failure as evidence (pytest-rerunfailures writes earlier attempts bare)."""
    last = group[-1]
    executions = sum(a.executions for a in group)
    flaky = last.status == "passed"
    base = next((a.case for a in reversed(group) if a.case is not None), None)
    if base is not None:
        update: dict[str, object] = {"attempt": executions, "flaky": flaky, "status": last.status}
        evidence = next(
            (a.case for a in reversed(group) if a.case and a.status in ("failed", "error")), None
        )
        if flaky and evidence is not None:
            update.update(message=evidence.message, type=evidence.type, text=evidence.text)
        base = base.model_copy(update=update)
    return _Attempt(last.status, executions, flaky, base)


def _text_of(parts: list[str], limit: int) -> str:
    text = "".join(parts).strip()
    return excerpt(text, limit) if text else ""


def _doctype(name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
    if internal or system_id or public_id:
        raise Refused("refused unsafe XML (a DTD that declares or fetches entities)")


def _entity(*_: object) -> None:
    raise Refused("refused unsafe XML (entity declaration)")


def _outcome(
    raw: _RawCase, *, retry_children: bool = False
) -> tuple[TestStatus, _Result | None, int, bool]:
    """Final status, the result that decided it, executions, and whether a rerun passed.

    Several result children of one element make it failed (``failure`` wins, then ``error``),
    not skipped; only a ``status=``/``result=`` that says the test did not run (GoogleTest's
    disabled tests carry a ``<failure>`` too) or a lone ``<skipped>`` make it skipped."""
    found: dict[str, list[_Result]] = {}
    for result in raw.results:
        found.setdefault(_local(result.tag), []).append(result)
    reruns = len(found.get("rerunFailure", ())) + len(found.get("rerunError", ()))
    flakes = found.get("flakyFailure", []) + found.get("flakyError", [])
    not_run = (raw.get("status") or "").lower() in NOT_RUN or (
        raw.get("result") or ""
    ).lower() in NOT_RUN
    if not_run:
        return "skipped", next(iter(found.get("skipped", raw.results)), None), 1, False
    for tag, status in _FAILING:
        if tag in found:
            tries = len(found[tag]) if retry_children else 1
            return status, found[tag][-1 if retry_children else 0], tries + reruns, False
    if "skipped" in found:
        return "skipped", found["skipped"][0], 1, False
    if flakes:
        return "passed", flakes[0], 1 + len(flakes), True
    return "passed", None, 1, False


def _classname(raw: _RawCase) -> str:
    """``classname`` (most dialects) or ``class`` (PHPUnit/Codeception)."""
    return raw.attrs.get("classname") or raw.attrs.get("class") or ""


def _file(raw: _RawCase) -> str | None:
    return raw.attrs.get("file") or raw.attrs.get("filepath") or None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
