"""The JUnit reader's expat handlers: one report's elements -> exact counts and a few raw cases.

Part of the collect stage, beneath ``collect.junit``, which builds the ``TestRun`` from what a
``Reader`` gathered. Each ``<testcase>`` is folded into the counts when it closes. A plain pass
(no result child, seen once) costs a hash and a set lookup and leaves nothing behind; a problem
becomes an ``Attempt`` holding its raw attributes and capped texts while it may still be kept
as a record (at most ``MAX_KEPT_CASES`` problems and ``MAX_KEPT_SKIPPED`` skips). A test whose
identity repeats is held until the report ends, when the writer and the declared counts decide
whether the repeats are attempts of one test or distinct tests (``settle``; docs/junit.md).
What an element means when it depends on the tool that wrote it is asked of
``collect.junit_writers``.

The handlers are the hot path of a 100,000-case report: one start and one end handler, no
handler swapping, plain statuses as small ints, and nothing built for a test that simply passed.
"""

from __future__ import annotations

import pyexpat

from prompt_trainer.collect import junit_writers as writers
from prompt_trainer.collect.xmlfeed import Refused
from prompt_trainer.redact import clean_name

ROOT_TAGS = ("testsuites", "testsuite")
#: ``status=``/``result=`` values (GoogleTest, CTest, Xcode...) that mean the test did not run.
NOT_RUN = frozenset({"notrun", "disabled", "skipped", "skip", "suppressed", "ignored"})
RERUNS = frozenset({"rerunFailure", "rerunError"})
FLAKES = frozenset({"flakyFailure", "flakyError"})
RESULT_TAGS = frozenset({"failure", "error", "skipped"}) | RERUNS | FLAKES
#: Problem cases kept as records per report (failures, errors, flaky passes); counts stay exact.
MAX_KEPT_CASES = 500
#: Skipped cases kept as records per report (they are counted, rarely read).
MAX_KEPT_SKIPPED = 100
#: Raw cases held for repeated names until the report ends (their verdicts are always held).
MAX_HELD_REPEATS = 10_000
MAX_PROPERTIES = 50
#: Characters of a property's value kept (``excerpt`` cuts it to this after redaction).
PROPERTY_CHARS = 500
#: Raw characters captured per text before redaction and the final cut.
CAPTURE_MARGIN = 512
#: Suite paths listed per report, and the length of one path or label (deep nesting is hostile).
MAX_SUITES = 1_000
MAX_SUITE_PATH = 1_000
MAX_LABEL = 200

PASSED, FAILED, ERROR, SKIPPED, CANCELLED = range(5)
#: ``TestStatus`` of each status number.
STATUSES = ("passed", "failed", "error", "skipped", "cancelled")
FAILING = frozenset({FAILED, ERROR, CANCELLED})


class Result:
    """A result child of a ``<testcase>`` (``<failure>``, ``<flakyError>``...)."""

    __slots__ = ("attrs", "tag", "text")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.text: list[str] = []


class RawCase:
    """What is kept of a ``<testcase>`` that is not a plain pass: attributes, results, texts."""

    __slots__ = ("attrs", "properties", "results", "system_err", "system_out")

    def __init__(self, attrs: dict[str, str]) -> None:
        self.attrs = attrs
        self.results: list[Result] = []
        self.system_out: list[str] = []
        self.system_err: list[str] = []
        self.properties: dict[str, str] = {}


class Attempt:
    """One ``<testcase>``'s verdict (or, after ``settle``, a test's), with what its record
    needs while it may still be kept: the raw case, the result that decided it, and for a flaky
    pass the failure it keeps as evidence."""

    __slots__ = (
        "evidence",
        "executions",
        "flaky",
        "index",
        "raw",
        "result",
        "status",
        "suite",
        "suite_error",
    )

    def __init__(
        self,
        status: int,
        executions: int = 1,
        *,
        raw: RawCase | None = None,
        result: Result | None = None,
        suite: str = "",
    ) -> None:
        self.status = status
        self.executions = executions
        self.flaky = False
        self.raw = raw
        self.result = result
        self.evidence: Result | None = None
        self.suite = suite
        self.suite_error = False
        self.index = -1  # position in ``Reader.kept`` while kept there


class Suite:
    """An open ``<testsuite>``: its path and own name, declared ``tests=``, the elements seen
    in it, the repeated identities first repeated in it, and (Vitest) its describe blocks."""

    __slots__ = ("count", "declared", "depth", "describes", "name", "path", "pending")

    def __init__(self, depth: int, path: str, name: str, declared: int | None) -> None:
        self.depth = depth
        self.path = path
        self.name = name
        self.declared = declared
        self.count = 0
        self.pending: list[int] = []
        self.describes: set[str] = set()


class Reader:
    """The expat handlers for one report and the counts they fold the elements into."""

    def __init__(self) -> None:
        #: Counts of settled tests by status number, and the passes that left nothing behind.
        self.counts = [0, 0, 0, 0, 0]
        self.plain = 0
        self.flaky = 0
        self.executions = 0
        self.suite_errors = 0
        self.elements = 0
        self.kept: list[Attempt | None] = []
        self.live = 0
        self.skipped_kept = 0
        self.held = 0
        #: Identities (hashes) seen; the first verdict of those that did not plainly pass.
        self.seen: set[int] = set()
        self.first: dict[int, Attempt] = {}
        self.suite_error_keys: set[int] = set()
        self.groups: dict[int, list[Attempt]] = {}
        #: Repeated identity -> True when its suite's declared count says "attempts".
        self.modes: dict[int, bool] = {}
        self.pending: list[int] = []
        self.suites: dict[str, None] = {}
        self.root: dict[str, str] = {}
        self.writer = ""
        self.known = False
        #: Written by a Go tool (a ``go.version`` suite property): repeats are reruns.
        self.go = False
        #: Surefire's rerun elements were seen: repeated names are distinct tests.
        self.reruns = False
        self.declared_root: int | None = None
        self.declared_sum: int | None = None
        self.stack: list[Suite] = []
        self.suite = ""
        self.top: Suite | None = None
        self.depth = 0
        self.case: dict[str, str] | None = None
        self.raw: RawCase | None = None
        self.case_depth = 0
        self.sink: list[str] | None = None
        self.sink_depth = -1
        self.sink_chars = 0
        self.max_text = 2_000
        self.parser: pyexpat.XMLParserType | None = None

    def make_parser(self, encoding: str | None) -> pyexpat.XMLParserType:
        parser = self.parser = pyexpat.ParserCreate(encoding)
        parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text = True
        parser.StartDoctypeDeclHandler = _doctype
        parser.EntityDeclHandler = _entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        return parser

    # --- handlers -------------------------------------------------------------------------

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if self.case is not None:
            if self.sink is None:  # else markup inside a captured text: part of the text
                self._case_child(name if ":" not in name else _local(name), attrs, depth)
            return
        tag = name if ":" not in name else _local(name)
        if tag == "testcase":
            self.case = attrs
            self.raw = None
            self.case_depth = depth
        elif tag == "testsuite":
            self._open_suite(attrs, depth)
        elif tag == "property" and attrs.get("name") == "go.version":
            self.go = True  # gotestsum / go-junit-report: a Go test name is unique per package
        if depth == 1:
            if tag not in ROOT_TAGS:
                raise Refused(f"not a JUnit report: root element is <{name}>")
            self.root = attrs
            self.declared_root = _int(attrs.get("tests"))

    def _end(self, name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == self.sink_depth:
            self.sink, self.sink_depth = None, -1
            if self.parser is not None:
                self.parser.CharacterDataHandler = None
        case = self.case
        if case is not None:
            if depth == self.case_depth:
                self.case = None
                self._close_case(case, self.raw)
            return
        top = self.top
        if top is not None and depth == top.depth:
            self._close_suite(self.stack.pop())

    def _text(self, data: str) -> None:
        sink = self.sink
        if sink is not None and self.sink_chars < self.max_text + CAPTURE_MARGIN:
            sink.append(data)
            self.sink_chars += len(data)

    def _case_child(self, tag: str, attrs: dict[str, str], depth: int) -> None:
        """Results, texts and properties of a case. Output is captured only once the case
        has a result (every writer puts ``system-out`` after it): a pass's is never read."""
        relative = depth - self.case_depth
        if relative == 1:
            if tag in RESULT_TAGS:
                raw = self.raw or self._new_raw()
                result = Result(tag, attrs)
                raw.results.append(result)
                self.reruns = self.reruns or tag in RERUNS or tag in FLAKES
                self._capture(result.text, depth)
            elif tag in ("system-out", "system-err") and self._has_result():
                raw = self.raw or self._new_raw()
                self._capture(raw.system_out if tag == "system-out" else raw.system_err, depth)
        elif relative == 2:
            held = self.raw
            if tag == "stackTrace" and held is not None and held.results:
                self._capture(held.results[-1].text, depth)
            elif tag == "property" and (key := attrs.get("name")):
                raw = held or self._new_raw()
                if len(raw.properties) < MAX_PROPERTIES:
                    raw.properties[key] = attrs.get("value", "")[: PROPERTY_CHARS + CAPTURE_MARGIN]

    def _new_raw(self) -> RawCase:
        raw = self.raw = RawCase(self.case or {})
        return raw

    def _has_result(self) -> bool:
        attrs = self.case or {}
        return bool(self.raw and self.raw.results) or "status" in attrs or "result" in attrs

    def _capture(self, sink: list[str], depth: int) -> None:
        """Collect character data into ``sink`` until the element at ``depth`` closes (the
        handler is only installed meanwhile: whitespace between elements costs nothing)."""
        self.sink, self.sink_depth, self.sink_chars = sink, depth, 0
        if self.parser is not None:
            self.parser.CharacterDataHandler = self._text

    # --- suites ---------------------------------------------------------------------------

    def _open_suite(self, attrs: dict[str, str], depth: int) -> None:
        """Push a suite. Its dotted path is built once, from its parent's, and stops growing at
        ``MAX_SUITE_PATH``: 40,000 nested suites cost memory linear in the input."""
        raw = attrs.get("name") or attrs.get("id") or f"#{len(self.stack) + 1}"
        label = clean_name(raw, MAX_LABEL)  # redacted: suite names reach the model
        parent = self.suite
        if len(parent) >= MAX_SUITE_PATH:
            path = parent
        else:
            path = (f"{parent}.{label[:MAX_LABEL]}" if parent else label[:MAX_LABEL])[
                :MAX_SUITE_PATH
            ]
        declared = _int(attrs.get("tests"))
        suite = Suite(depth, path, raw, declared)
        self.stack.append(suite)
        self.top, self.suite = suite, path
        if len(self.suites) < MAX_SUITES:
            self.suites[path] = None
        if depth == 2 and declared is not None:
            self.declared_sum = (self.declared_sum or 0) + declared
        if not self.known:
            self.writer, self.known = writers.writer_of(self.root or attrs, attrs), True

    def _close_suite(self, suite: Suite) -> None:
        """Pass the suite's counts up; settle how its repeated names read, or defer upwards
        when its declared count says nothing."""
        stack = self.stack
        self.top = stack[-1] if stack else None
        self.suite = self.top.path if self.top is not None else ""
        if self.top is not None:
            self.top.count += suite.count
        if not suite.pending:
            return
        mode = _mode(suite.declared, suite.count)
        if mode is None:
            (self.top.pending if self.top is not None else self.pending).extend(suite.pending)
        else:
            self.modes.update(dict.fromkeys(suite.pending, mode))

    # --- folding --------------------------------------------------------------------------

    def _close_case(self, attrs: dict[str, str], raw: RawCase | None) -> None:
        """Fold one ``<testcase>``: settle a test seen once, hold back a repeated identity."""
        self.elements += 1
        top = self.top
        if top is not None:
            top.count += 1
        if not self.known:
            self.writer, self.known = writers.writer_of(self.root, None), True
        name = attrs.get("name")
        if self.writer == writers.VITEST and name and writers.VITEST_PATH in name and top:
            top.describes.update(writers.describes_of(name))
        plain = raw is None and "status" not in attrs and "result" not in attrs
        if name is None:  # no name: a distinct test, never merged with another
            self._count(Attempt(PASSED) if plain else self._attempt(attrs, raw), 1)
            return
        classname = attrs.get("classname") or attrs.get("class") or ""
        key = hash((self.suite, classname, name, attrs.get("file") or attrs.get("filepath")))
        seen = self.seen
        if key not in seen:
            if plain:  # the hot path: a plain pass seen once
                seen.add(key)
                self.plain += 1
                return
            attempt = self._attempt(attrs, raw)
            if attempt.suite_error:  # jest-junit may write one twice: it is one error
                if key not in self.suite_error_keys:
                    self.suite_error_keys.add(key)
                    self._count(attempt, 1)
                return
            seen.add(key)
            self.first[key] = attempt
            self._count(attempt, 1)
            return
        if plain:
            held = self.held < MAX_HELD_REPEATS
            self.held += held
            self._repeat(key, Attempt(PASSED, raw=RawCase(attrs) if held else None))
        else:
            self._repeat(key, self._attempt(attrs, raw))

    def _attempt(self, attrs: dict[str, str], raw: RawCase | None) -> Attempt:
        """One element's verdict, by the writer's rules (docs/junit.md)."""
        attempt = _outcome(attrs, raw, self.writer)
        attempt.suite = self.suite
        if attempt.status in FAILING and writers.is_suite_error(
            self.writer,
            attrs.get("name") or "",
            attrs.get("classname") or "",
            self.top.name if self.top is not None else "",
            self.top.describes if self.top is not None else None,
        ):
            attempt.suite_error, attempt.status = True, ERROR
        return attempt

    def _repeat(self, key: int, attempt: Attempt) -> None:
        attempt.suite = self.suite
        group = self.groups.get(key)
        if group is None:
            prior = self.first.pop(key, None)
            if prior is None:  # its first element was a plain pass
                self.plain -= 1
                prior = Attempt(PASSED, suite=self.suite)
            else:
                self._count(prior, -1)
            group = self.groups[key] = [prior]
            (self.top.pending if self.top is not None else self.pending).append(key)
        group.append(attempt)

    def _count(self, attempt: Attempt, sign: int) -> None:
        """Add (``sign=1``) or take back (``-1``) one settled test or suite error."""
        if attempt.suite_error:
            self.suite_errors += sign
        else:
            self.counts[attempt.status] += sign
            self.flaky += sign * attempt.flaky
            self.executions += sign * attempt.executions
        if sign < 0 and attempt.index >= 0:
            self.kept[attempt.index] = None
            self.live -= 1
            self.skipped_kept -= attempt.status == SKIPPED
            attempt.index = -1
        elif sign > 0 and attempt.raw is not None:
            if self._room(attempt):
                attempt.index = len(self.kept)
                self.kept.append(attempt)
                self.live += 1
                self.skipped_kept += attempt.status == SKIPPED
            elif attempt.index < 0:
                attempt.raw = attempt.result = attempt.evidence = None  # counted, not kept

    def _room(self, attempt: Attempt) -> bool:
        if attempt.status == PASSED and not attempt.flaky:
            return False
        if attempt.status == SKIPPED:
            return self.skipped_kept < MAX_KEPT_SKIPPED
        return self.live - self.skipped_kept < MAX_KEPT_CASES

    # --- the end of the report ------------------------------------------------------------

    def settle(self) -> set[int]:
        """Settle every repeated identity; returns the identities that never passed."""
        failing = {key for key, attempt in self.first.items() if attempt.status != PASSED}
        fallback = _mode(self.declared_root, self.elements)
        for key, group in self.groups.items():
            settled = self._read_group(group, self.modes.get(key, fallback))
            for attempt in settled:
                self._count(attempt, 1)
            if all(a.status != PASSED for a in settled):
                failing.add(key)
        return failing

    def _read_group(self, group: list[Attempt], mode: bool | None) -> list[Attempt]:
        """The elements of one repeated identity: attempts of one test, or distinct tests.

        A Go tool and pytest write reruns as repeated elements; jest-junit and Surefire never
        do. Otherwise the declared count decides (``_mode``), and without one they are
        attempts. Attempts in which nothing failed are distinct tests after all (a rerun only
        follows a failure), except pytest's: rerunfailures writes a failed attempt bare."""
        writer = self.writer
        if self.go or writer == writers.PYTEST:
            attempts = True
        elif writer in (writers.JEST, writers.SUREFIRE) or self.reruns:
            attempts = False
        else:
            attempts = True if mode is None else mode
        if not attempts:
            return group
        if writer == writers.PYTEST:
            group = _teardown_merged(group)
        elif not self.go and not any(a.status in FAILING for a in group):
            return group
        return [_verdict(group, bare_reruns=writer == writers.PYTEST)]


def _outcome(attrs: dict[str, str], raw: RawCase | None, writer: str) -> Attempt:
    """One element's status, the result that decided it and its executions.

    Several result children make it failed (``<failure>`` wins, then ``<error>``), not skipped;
    Surefire's reruns make it an error if any execution errored (Maven's summary rule); only a
    ``status=``/``result=`` that says the test did not run (GoogleTest's disabled tests carry a
    ``<failure>`` too) or a lone ``<skipped>`` make it skipped. A failure whose type says node's
    runner cancelled the test makes it cancelled."""
    results = raw.results if raw is not None else []
    if (attrs.get("status") or "").lower() in NOT_RUN or (
        attrs.get("result") or ""
    ).lower() in NOT_RUN:
        skip = next((r for r in results if _local(r.tag) == "skipped"), None)
        return Attempt(SKIPPED, raw=raw, result=skip or next(iter(results), None))
    tags = [_local(r.tag) for r in results]
    failing = [r for r, t in zip(results, tags, strict=True) if t in ("failure", "error")]
    if failing:
        return _failed(results, tags, failing, raw, writer)
    if "skipped" in tags:
        return Attempt(SKIPPED, raw=raw, result=results[tags.index("skipped")])
    flakes = [r for r, t in zip(results, tags, strict=True) if t in FLAKES]
    attempt = Attempt(PASSED, 1 + len(flakes), raw=raw)
    if flakes:
        attempt.flaky, attempt.evidence = True, flakes[0]
    return attempt


def _failed(
    results: list[Result],
    tags: list[str],
    failing: list[Result],
    raw: RawCase | None,
    writer: str,
) -> Attempt:
    reruns = [r for r, t in zip(results, tags, strict=True) if t in RERUNS]
    if reruns:  # Surefire: seenError ? ERROR : FAILURE (DefaultReporterFactory)
        errored = any(t in ("error", "rerunError") for t in tags)
        attempt = Attempt(ERROR if errored else FAILED, 1 + len(reruns), raw=raw, result=failing[0])
    elif writer == writers.VITEST:  # one <failure> per failed attempt (retry)
        attempt = Attempt(FAILED, len(failing), raw=raw, result=failing[-1])
    else:
        first = next((r for r in failing if _local(r.tag) == "failure"), failing[0])
        status = FAILED if _local(first.tag) == "failure" else ERROR
        attempt = Attempt(status, raw=raw, result=first)
    if attempt.result is not None and attempt.result.attrs.get("type") in writers.NODE_CANCELLED:
        attempt.status = CANCELLED
    return attempt


def _teardown_merged(group: list[Attempt]) -> list[Attempt]:
    """pytest writes a teardown error after a failed call as an element of its own: it is
    part of the same execution, which stays failed (as a single element with both results
    reads)."""
    if len(group) < 2 or group[-2].status not in FAILING:
        return group
    last = group[-1].result
    message = (last.attrs.get("message") or "") if last is not None else ""
    if group[-1].status == ERROR and message.startswith(writers.PYTEST_TEARDOWN):
        return group[:-1]
    return group


def _verdict(group: list[Attempt], *, bare_reruns: bool) -> Attempt:
    """Attempts of one test: the last one decides; a pass after a failed attempt is flaky and
    keeps the last failure as evidence (pytest-rerunfailures writes failed attempts bare, so
    there any earlier attempt was a failed one)."""
    last = group[-1]
    failed_before = any(a.status in FAILING for a in group[:-1])
    verdict = Attempt(last.status, sum(a.executions for a in group), suite=last.suite)
    verdict.raw = next((a.raw for a in reversed(group) if a.raw is not None), None)
    verdict.result = last.result
    if last.status == PASSED and (failed_before or (bare_reruns and len(group) > 1)):
        verdict.flaky = True
        evidence = next((a for a in reversed(group) if a.status in FAILING and a.result), None)
        verdict.evidence = evidence.result if evidence is not None else None
    return verdict


def _mode(declared: int | None, elements: int) -> bool | None:
    """What a declared ``tests=`` says about repeated names among ``elements`` test cases:
    equal means distinct tests (False), fewer means attempts (True), else nothing (None)."""
    if declared is None or declared > elements:
        return None
    return declared < elements


def _local(tag: str) -> str:
    """Strip a namespace prefix: ``x:testcase`` -> ``testcase``."""
    return tag if ":" not in tag else tag.rsplit(":", 1)[-1]


def _doctype(name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
    if internal or system_id or public_id:
        raise Refused("refused unsafe XML (a DTD that declares or fetches entities)")


def _entity(*_: object) -> None:
    raise Refused("refused unsafe XML (entity declaration)")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
