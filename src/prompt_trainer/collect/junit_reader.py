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

ROOT_TAGS = ("testsuites", "testsuite")
#: ``status=``/``result=`` values (GoogleTest, CTest, Xcode...) that mean the test did not run.
NOT_RUN = frozenset({"notrun", "disabled", "skipped", "skip", "suppressed", "ignored"})
RERUNS = frozenset({"rerunFailure", "rerunError"})
FLAKES = frozenset({"flakyFailure", "flakyError"})
RESULT_TAGS = frozenset({"failure", "error", "skipped"}) | RERUNS | FLAKES
#: Children that matter inside a case that has no result yet (others are skipped unread).
CHILD_TAGS = RESULT_TAGS | {"property", "stackTrace"}
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
#: Suite paths listed per report, and the length of one path or label (deep nesting is hostile;
#: a longer label keeps its beginning and a hash of the whole).
MAX_SUITES = 1_000
MAX_SUITE_PATH = 1_000
MAX_LABEL = 200

PASSED, FAILED, ERROR, SKIPPED, CANCELLED = range(5)
#: ``TestStatus`` of each status number.
STATUSES = ("passed", "failed", "error", "skipped", "cancelled")
FAILING = frozenset({FAILED, ERROR, CANCELLED})
#: The status a lone result child gives (``_outcome``'s quick path).
SINGLE = {"failure": FAILED, "error": ERROR, "skipped": SKIPPED}


class Result:
    """A result child of a ``<testcase>`` (``<failure>``, ``<flakyError>``...); ``tag`` is its
    name without a namespace prefix."""

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
    before it opened (its own count is the difference when it closes), the repeated identities
    first repeated in it, and (Vitest) its describe blocks."""

    __slots__ = ("before", "declared", "depth", "describes", "name", "path", "pending")

    def __init__(self, depth: int, path: str, name: str, declared: int | None, before: int) -> None:
        self.depth = depth
        self.path = path
        self.name = name
        self.declared = declared
        self.before = before
        self.pending: list[int] = []
        self.describes: set[str] = set()


class Reader:
    """The expat handlers for one report and the counts they fold the elements into.

    ``_start`` and ``_end`` run for every element of the report, so they do the least they can:
    inside a test case that has no result yet (``quick``), an element that cannot change the
    verdict (``system-out``, ``properties``...) costs two comparisons and no call; ``_end`` only
    compares depths. Everything else is in the methods they call."""

    __slots__ = (
        "bare_names",
        "case",
        "case_depth",
        "counts",
        "declared_root",
        "declared_sum",
        "depth",
        "elements",
        "executions",
        "first",
        "flaky",
        "go",
        "groups",
        "held",
        "kept",
        "live",
        "max_text",
        "modes",
        "node_totals",
        "parser",
        "pending",
        "plain",
        "quick",
        "raw",
        "reruns",
        "root",
        "seen",
        "sink",
        "sink_chars",
        "sink_depth",
        "skipped_kept",
        "stack",
        "suite",
        "suite_depth",
        "suite_error_keys",
        "suite_errors",
        "suite_seen",
        "suites",
        "top",
        "vitest",
        "writer",
    )

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
        self.vitest = False
        self.suite_seen = False
        #: Written by a Go tool (a ``go.version`` suite property): repeats are reruns.
        self.go = False
        #: Surefire's rerun elements were seen: repeated names are distinct tests.
        self.reruns = False
        #: node's totals, from the comments its JUnit reporter writes under the root.
        self.node_totals: dict[str, int] = {}
        self.declared_root: int | None = None
        self.declared_sum: int | None = None
        self.stack: list[Suite] = []
        self.suite = ""
        self.top: Suite | None = None
        #: Depths of the open suite, case and captured text (-1: none), and of the element.
        self.suite_depth = -1
        self.case_depth = -1
        self.sink_depth = -1
        self.depth = 0
        self.case: dict[str, str] | None = None
        self.raw: RawCase | None = None
        #: The open case has no result, no ``status=``/``result=`` and no text being captured.
        self.quick = False
        #: Element names carry no namespace prefix (else every child takes the slow path).
        self.bare_names = True
        self.sink: list[str] | None = None
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
        parser.CommentHandler = self._comment
        return parser

    # --- handlers -------------------------------------------------------------------------

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if self.case is None:
            if name == "testcase":
                self.case, self.case_depth = attrs, depth
                self.quick = self.bare_names and "status" not in attrs and "result" not in attrs
            else:
                self._outside(name, attrs, depth)
        elif not self.quick or name in CHILD_TAGS:
            self._case_child(name if ":" not in name else _local(name), attrs, depth)

    def _end(self, name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == self.case_depth:  # a test case closes: the hot path, inline
            attrs, raw = self.case or {}, self.raw
            self.case, self.raw, self.case_depth = None, None, -1
            self.elements += 1
            title = attrs.get("name")
            if self.vitest and title and writers.VITEST_PATH in title and self.top is not None:
                self.top.describes.update(writers.describes_of(title))
            if (
                raw is None
                and title is not None
                and "status" not in attrs
                and "result" not in attrs
            ):
                key = hash(
                    (
                        self.suite,
                        attrs.get("classname") or attrs.get("class") or "",
                        title,
                        attrs.get("file") or attrs.get("filepath"),
                    )
                )
                seen = self.seen
                if key not in seen:  # a plain pass seen once leaves only its identity
                    seen.add(key)
                    self.plain += 1
                else:
                    self._repeated_pass(key, attrs)
            else:
                self._close_problem(attrs, raw, title)
        elif depth == self.sink_depth:
            self._end_capture()
        elif depth == self.suite_depth:
            self._close_suite()

    def _comment(self, data: str) -> None:
        """node's totals (``<!-- fail 1 -->``), which its reporter writes as the root's last
        children; a comment anywhere else is the user's (``t.diagnostic``) and not read."""
        if self.depth == 1 and len(self.node_totals) < len(writers.NODE_TOTALS):
            total = writers.node_total(data)
            if total is not None:
                self.node_totals[total[0]] = total[1]

    def _text(self, data: str) -> None:
        sink = self.sink
        if sink is not None and self.sink_chars < self.max_text + CAPTURE_MARGIN:
            sink.append(data)
            self.sink_chars += len(data)

    def _outside(self, name: str, attrs: dict[str, str], depth: int) -> None:
        """An element outside any test case: the root, a suite, a property, a namespaced case."""
        tag = name if ":" not in name else _local(name)
        if depth == 1:
            if tag not in ROOT_TAGS:
                raise Refused(f"not a JUnit report: root element is <{name}>")
            self.root = attrs
            self.declared_root = _int(attrs.get("tests"))
            self.bare_names = ":" not in name
            self._recognise(attrs if tag == "testsuite" else None)
        if tag == "testcase":
            self.case, self.case_depth, self.quick = attrs, depth, False
        elif tag == "testsuite":
            self._open_suite(attrs, depth)
        elif tag == "property" and attrs.get("name") == "go.version":
            self.go = True  # gotestsum / go-junit-report: a Go test name is unique per package

    def _recognise(self, suite: dict[str, str] | None) -> None:
        self.writer = writers.writer_of(self.root, suite)
        self.vitest = self.writer == writers.VITEST

    def _case_child(self, tag: str, attrs: dict[str, str], depth: int) -> None:
        """Results, texts and properties of a case. Output is captured only once the case
        has a result (every writer puts ``system-out`` after it): a pass's is never read."""
        if self.sink is not None:
            return  # markup inside a captured text
        relative = depth - self.case_depth
        if relative == 1:
            if tag in RESULT_TAGS:
                raw = self.raw or self._new_raw()
                result = Result(tag, attrs)
                raw.results.append(result)
                self.reruns = self.reruns or tag in RERUNS or tag in FLAKES
                if self._room_for_texts():
                    self._capture(result.text, depth)
            elif tag in ("system-out", "system-err") and self._room_for_texts():
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
        self.quick = False
        return raw

    def _room_for_texts(self) -> bool:
        """Texts are captured for a case that has a result while its record may still be kept
        (once ``MAX_KEPT_CASES`` problems are kept, later ones are only counted)."""
        attrs = self.case or {}
        has_result = bool(self.raw and self.raw.results) or "status" in attrs or "result" in attrs
        return has_result and self.live - self.skipped_kept < MAX_KEPT_CASES

    def _capture(self, sink: list[str], depth: int) -> None:
        """Collect character data into ``sink`` until the element at ``depth`` closes (the
        handler is only installed meanwhile: whitespace between elements costs nothing)."""
        self.sink, self.sink_depth, self.sink_chars = sink, depth, 0
        self.quick = False
        if self.parser is not None:
            self.parser.CharacterDataHandler = self._text

    def _end_capture(self) -> None:
        self.sink, self.sink_depth = None, -1
        if self.parser is not None:
            self.parser.CharacterDataHandler = None

    # --- suites ---------------------------------------------------------------------------

    def _open_suite(self, attrs: dict[str, str], depth: int) -> None:
        """Push a suite. Its dotted path is built once, from its parent's, and stops growing at
        ``MAX_SUITE_PATH``: 40,000 nested suites cost memory linear in the input. The path is
        raw text here (the identity of the suite's tests); records get it redacted
        (``collect.junit``), so reading counts never loads the redaction rules."""
        raw = attrs.get("name") or attrs.get("id") or f"#{len(self.stack) + 1}"
        label = raw if len(raw) <= MAX_LABEL else _cut_label(raw)
        parent = self.suite
        if len(parent) >= MAX_SUITE_PATH:
            path = parent
        else:
            path = (f"{parent}.{label}" if parent else label)[:MAX_SUITE_PATH]
        declared = _int(attrs.get("tests"))
        suite = Suite(depth, path, raw, declared, self.elements)
        self.stack.append(suite)
        self.top, self.suite, self.suite_depth = suite, path, depth
        if len(self.suites) < MAX_SUITES:
            self.suites[path] = None
        if depth == 2:
            if declared is not None:
                self.declared_sum = (self.declared_sum or 0) + declared
            if not self.suite_seen:  # the first suite: what the writer always writes
                self.suite_seen = True
                self._recognise(attrs)

    def _close_suite(self) -> None:
        """Settle how the suite's repeated names read, or defer upwards when its declared count
        says nothing."""
        stack = self.stack
        suite = stack.pop()
        top = self.top = stack[-1] if stack else None
        self.suite = top.path if top is not None else ""
        self.suite_depth = top.depth if top is not None else -1
        if not suite.pending:
            return
        mode = _mode(suite.declared, self.elements - suite.before)
        if mode is None:
            (top.pending if top is not None else self.pending).extend(suite.pending)
        else:
            self.modes.update(dict.fromkeys(suite.pending, mode))

    # --- folding --------------------------------------------------------------------------

    def _repeated_pass(self, key: int, attrs: dict[str, str]) -> None:
        held = self.held < MAX_HELD_REPEATS
        self.held += held
        self._repeat(key, Attempt(PASSED, raw=RawCase(attrs) if held else None))

    def _close_problem(self, attrs: dict[str, str], raw: RawCase | None, name: str | None) -> None:
        """A case with a result, a ``status=``, or no name."""
        if name is None:  # no name: a distinct test, never merged with another
            self._count(self._attempt(attrs, raw), 1)
            return
        classname = attrs.get("classname") or attrs.get("class") or ""
        key = hash((self.suite, classname, name, attrs.get("file") or attrs.get("filepath")))
        attempt = self._attempt(attrs, raw)
        if key in self.seen:
            self._repeat(key, attempt)
        elif attempt.suite_error:  # jest-junit may write one twice: it is one error
            if key not in self.suite_error_keys:
                self.suite_error_keys.add(key)
                self._count(attempt, 1)
        else:
            self.seen.add(key)
            self.first[key] = attempt
            self._count(attempt, 1)

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
        self._node_missing()
        return failing

    def _node_missing(self) -> None:
        """A suite error when node's totals count failures no element holds: its reporter
        writes a test with subtests as a ``<testsuite>`` and drops the test's own failure."""
        counts = self.counts
        message = writers.node_missing(
            self.node_totals, counts[FAILED] + counts[ERROR] + counts[CANCELLED]
        )
        if message is None:
            return
        attrs = {"name": writers.NODE_MISSING, "classname": "node --test"}
        result = Result("error", {"message": message, "type": "notInReport"})
        attempt = Attempt(ERROR, raw=RawCase(attrs), result=result)
        attempt.suite_error = True
        self._count(attempt, 1)

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
    status, result = attrs.get("status"), attrs.get("result")
    if (status and status.lower() in NOT_RUN) or (result and result.lower() in NOT_RUN):
        skip = next((r for r in results if r.tag == "skipped"), None)
        return Attempt(SKIPPED, raw=raw, result=skip or next(iter(results), None))
    if len(results) == 1 and results[0].tag in SINGLE:  # the common case, quickly
        only = results[0]
        attempt = Attempt(SINGLE[only.tag], raw=raw, result=only)
        if attempt.status != SKIPPED and only.attrs.get("type") in writers.NODE_CANCELLED:
            attempt.status = CANCELLED
        return attempt
    tags = [r.tag for r in results]
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
        first = next((r for r in failing if r.tag == "failure"), failing[0])
        status = FAILED if first.tag == "failure" else ERROR
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


def _cut_label(raw: str) -> str:
    """A long suite name: its beginning and a hash of the whole, so that two long names that
    share their beginning stay apart."""
    return f"{raw[: MAX_LABEL - 11]}…{hash(raw) & 0xFFFFFFFFFF:010x}"


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
