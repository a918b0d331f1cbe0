"""JUnit XML reports -> ``TestRun``, for every dialect in the wild (see docs/junit.md).

A report is streamed through expat (C) in 256 KiB chunks with small Python handlers; no element
tree is built. Each ``<testcase>`` is reduced to a ``_RawCase`` (attributes, result elements,
capped texts) and folded into the run as soon as it closes, so memory stays bounded on huge
reports. Safety: a DTD with an internal subset or an external id, and any entity declaration,
stop the parse (``refused unsafe XML``); parameter entities are never parsed, so nothing is
expanded or fetched, and an undefined entity is a parse error. The first element must be
``<testsuites>`` or ``<testsuite>`` (namespaced or not).

Departure from the one-module-per-dependency rule: junitparser is not used to read reports.
Building its element tree and wrapping each case in its classes is several times slower than
this parse (``bench/ingest.py`` prints both); the counting rules it encodes are small and are
written here and in docs/junit.md.
"""

from __future__ import annotations

import pyexpat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prompt_trainer.models import Skipped, TestCase, TestRun, TestStatus
from prompt_trainer.redact import clean_name, excerpt

ROOT_TAGS = ("testsuites", "testsuite")
CHUNK = 256 * 1024
#: ``status=``/``result=`` values (GoogleTest, CTest, Xcode...) that mean the test did not run.
NOT_RUN = frozenset({"notrun", "disabled", "skipped", "skip", "suppressed", "ignored"})
RESULT_TAGS = frozenset(
    {"failure", "error", "skipped", "flakyFailure", "flakyError", "rerunFailure", "rerunError"}
)
#: Problem cases kept with full texts; later ones keep a short message only (bounded memory).
DETAILED_CASES = 500
SHORT_MESSAGE = 300
MAX_PROPERTIES = 50
#: Raw characters captured per text before redaction and the final cut.
CAPTURE_MARGIN = 512


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
    except _Refused as exc:
        return Skipped(source=source, reason=str(exc))
    except pyexpat.ExpatError as exc:
        return Skipped(source=source, reason=f"malformed XML: {exc}")
    except LookupError as exc:  # found by fuzzing: a prolog naming an unknown encoding
        return Skipped(source=source, reason=f"malformed XML: {exc}")
    except RecursionError:
        return Skipped(source=source, reason="malformed XML: nested too deeply")


class _Refused(Exception):
    """Well-formed so far, but not something we will read (unsafe, or not JUnit)."""


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


@dataclass
class _Reader:
    """Expat handlers that stream one report into counts and problem cases."""

    source: str
    max_text: int
    cases: list[TestCase] = field(default_factory=list)
    #: Test identity -> its position in ``cases``, or -1 while it is a plain pass.
    seen: dict[str, int] = field(default_factory=dict)
    #: Executions of identities seen more than once (absent means 1).
    executions: dict[str, int] = field(default_factory=dict)
    plain_passes: int = 0
    suites: list[str] = field(default_factory=list)
    elements: int = 0
    declared_root: int | None = None
    declared_sum: int | None = None
    _depth: int = 0
    _suite_path: list[str] = field(default_factory=list)
    _suite: str = ""
    _suite_depths: list[int] = field(default_factory=list)
    _case: _RawCase | None = None
    _case_depth: int = 0
    _sink: list[str] | None = None
    _sink_depth: int = 0
    _sink_chars: int = 0
    _parser: pyexpat.XMLParserType | None = None

    def read(self, path: Path) -> TestRun:
        parser = self._parser = pyexpat.ParserCreate()
        parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text = True
        parser.StartDoctypeDeclHandler = _doctype
        parser.EntityDeclHandler = _entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
        return self._run()

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        self._depth += 1
        depth = self._depth
        if depth == 1:
            if tag not in ROOT_TAGS:
                raise _Refused(f"not a JUnit report: root element is <{name}>")
            self.declared_root = _int(attrs.get("tests"))
        case = self._case
        if case is not None:
            self._case_child(case, tag, attrs, depth)
        elif tag == "testcase":
            self._case = _RawCase(attrs)
            self._case_depth = depth
        elif tag == "testsuite":
            label = clean_name(attrs.get("name") or attrs.get("id") or f"#{len(self.suites) + 1}")
            self._suite_path.append(label)
            self._suite_depths.append(depth)
            self._suite = ".".join(self._suite_path)
            self.suites.append(self._suite)
            declared = _int(attrs.get("tests"))
            if depth == 2 and declared is not None:
                self.declared_sum = (self.declared_sum or 0) + declared

    def _case_child(self, case: _RawCase, tag: str, attrs: dict[str, str], depth: int) -> None:
        if self._sink is not None:
            return  # markup inside a captured text (rare): its text is captured too
        relative = depth - self._case_depth
        if relative == 1 and tag in RESULT_TAGS:
            result = _Result(tag, attrs)
            case.results.append(result)
            self._capture(result.text, depth)
        elif relative == 2 and tag == "stackTrace" and case.results:
            self._capture(case.results[-1].text, depth)
        elif relative == 1 and tag == "system-out":
            self._capture(case.system_out, depth)
        elif relative == 1 and tag == "system-err":
            self._capture(case.system_err, depth)
        elif (
            relative == 2
            and tag == "property"
            and len(case.properties) < MAX_PROPERTIES
            and (name := attrs.get("name"))
        ):
            case.properties[name] = attrs.get("value", "")

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
        self._depth -= 1
        if self._sink is not None and depth == self._sink_depth:
            self._sink = None
            if self._parser is not None:
                self._parser.CharacterDataHandler = None
        case = self._case
        if case is not None:
            if depth == self._case_depth:
                self._case = None
                self._add(case, self._suite)
            return
        if self._suite_depths and depth == self._suite_depths[-1]:
            self._suite_depths.pop()
            self._suite_path.pop()
            self._suite = ".".join(self._suite_path)

    def _add(self, raw: _RawCase, suite: str) -> None:
        """Fold one ``<testcase>`` into the run, merging repeats of the same test."""
        self.elements += 1
        attrs = raw.attrs
        key = f"{suite}::{_classname(raw)}::{attrs.get('name') or ''}::{_file(raw) or ''}"
        known = self.seen.get(key)
        if known is None and not raw.results and "status" not in attrs and "result" not in attrs:
            self.seen[key] = -1  # the common case: a plain pass, seen once
            self.plain_passes += 1
            return
        status, result, executions, flaky = _outcome(raw)
        if known is None:
            if executions > 1:
                self.executions[key] = executions
            if status == "passed" and not flaky:
                self.seen[key] = -1
                self.plain_passes += 1
                return
            self.seen[key] = len(self.cases)
            case = self._make(raw, suite, status, result, executions=executions, flaky=flaky)
            self.cases.append(case)
            return
        self._repeat(
            key=key,
            index=known,
            raw=raw,
            suite=suite,
            status=status,
            result=result,
            executions=executions,
        )

    def _repeat(
        self,
        *,
        key: str,
        index: int,
        raw: _RawCase,
        suite: str,
        status: TestStatus,
        result: _Result | None,
        executions: int,
    ) -> None:
        """A test reported again in the same file is a rerun: passed once means passed (and
        flaky if another execution failed); otherwise the last execution that ran decides."""
        total = self.executions[key] = self.executions.get(key, 1) + executions
        failed_now = status in ("failed", "error")
        if index < 0:  # every earlier execution passed
            if failed_now:
                self.plain_passes -= 1
                self.seen[key] = len(self.cases)
                case = self._make(raw, suite, "passed", result, executions=total, flaky=True)
                self.cases.append(case)
            return
        previous = self.cases[index]
        update: dict[str, object] = {"attempt": total}
        if previous.status == "passed" or status == "skipped":
            pass  # a pass already decided it, or this execution did not run
        elif status == "passed":
            update.update(status="passed", flaky=previous.status != "skipped")
        else:
            fresh = self._make(raw, suite, status, result, executions=total, flaky=False)
            self.cases[index] = fresh
            return
        self.cases[index] = previous.model_copy(update=update)

    def _make(
        self,
        raw: _RawCase,
        suite: str,
        status: TestStatus,
        result: _Result | None,
        *,
        executions: int,
        flaky: bool,
    ) -> TestCase:
        detailed = len(self.cases) < DETAILED_CASES
        limit = self.max_text if detailed else SHORT_MESSAGE
        message = (result.attrs.get("message") or "") if result is not None else ""
        text = "".join(result.text).strip() if result is not None else ""
        if not detailed:
            message, text = message or text, ""
        return TestCase(
            suite=clean_name(suite),
            classname=clean_name(_classname(raw)),
            name=clean_name(raw.get("name") or ""),
            status=status,
            message=excerpt(message, limit),
            type=clean_name(result.attrs.get("type") or "") if result is not None else "",
            text=excerpt(text, limit) if text else "",
            system_out=excerpt("".join(raw.system_out).strip(), limit) if detailed else "",
            system_err=excerpt("".join(raw.system_err).strip(), limit) if detailed else "",
            duration_s=_float(raw.get("time")),
            file=_file(raw),
            line=_int(raw.get("line") or raw.get("lineno")),
            properties={k: excerpt(v, 500) for k, v in raw.properties.items()},
            flaky=flaky,
            attempt=executions,
        )

    def _run(self) -> TestRun:
        declared = self.declared_root if self.declared_root is not None else self.declared_sum
        notes: list[str] = []
        if declared is not None and declared != self.elements:
            notes.append(
                f"the report declares tests={declared} but holds {self.elements} <testcase> "
                "element(s); the elements were counted"
            )
        if len(self.cases) > DETAILED_CASES:
            notes.append(
                f"full texts kept for the first {DETAILED_CASES} of {len(self.cases)} cases; "
                "the rest keep a short message"
            )
        passed = frozenset(k for k, index in self.seen.items() if index < 0)
        passed |= {_key(c) for c in self.cases if c.status == "passed"}
        return TestRun(
            source=self.source,
            cases=tuple(self.cases),
            plain_passes=self.plain_passes,
            suites=tuple(dict.fromkeys(self.suites)),
            declared_tests=declared,
            notes=tuple(notes),
            passed_ids=passed,
        )


def _doctype(name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
    if internal or system_id or public_id:
        raise _Refused("refused unsafe XML (a DTD that declares or fetches entities)")


def _entity(*_: object) -> None:
    raise _Refused("refused unsafe XML (entity declaration)")


def _outcome(raw: _RawCase) -> tuple[TestStatus, _Result | None, int, bool]:
    """Final status, the result that decided it, executions, and whether a rerun passed."""
    found: dict[str, list[_Result]] = {}
    for result in raw.results:
        found.setdefault(_local(result.tag), []).append(result)
    reruns = len(found.get("rerunFailure", ())) + len(found.get("rerunError", ()))
    flakes = found.get("flakyFailure", []) + found.get("flakyError", [])
    not_run = (raw.get("status") or "").lower() in NOT_RUN or (
        raw.get("result") or ""
    ).lower() in NOT_RUN
    if "skipped" in found or not_run:
        first = found["skipped"][0] if "skipped" in found else next(iter(raw.results), None)
        return "skipped", first, 1, False
    if "error" in found:
        return "error", found["error"][0], 1 + reruns, False
    if "failure" in found:
        return "failed", found["failure"][0], 1 + reruns, False
    if flakes:
        return "passed", flakes[0], 1 + len(flakes), True
    return "passed", None, 1, False


def _key(case: TestCase) -> str:
    return f"{case.suite}::{case.classname}::{case.name}::{case.file or ''}"


def _classname(raw: _RawCase) -> str:
    """``classname`` (most dialects) or ``class`` (PHPUnit/Codeception)."""
    return raw.attrs.get("classname") or raw.attrs.get("class") or ""


def _file(raw: _RawCase) -> str | None:
    return raw.attrs.get("file") or raw.attrs.get("filepath") or None


def flag_flaky_across_runs(runs: Sequence[TestRun]) -> tuple[TestRun, ...]:
    """Mark failures of tests that passed in another run of the same commit as flaky.

    ``runs`` are the reports of every workflow run and attempt of one head commit. A failing case
    stays a failure (it is evidence) but gets ``flaky=True`` so that metrics and the trainer can
    set it apart.
    """
    passed_in: dict[str, set[int]] = {}
    for index, run in enumerate(runs):
        for key in run.passed_ids:
            passed_in.setdefault(key, set()).add(index)
    out: list[TestRun] = []
    for index, run in enumerate(runs):
        changed = False
        cases: list[TestCase] = []
        for case in run.cases:
            elsewhere = passed_in.get(_key(case), set()) - {index}
            if case.status in ("failed", "error") and not case.flaky and elsewhere:
                cases.append(case.model_copy(update={"flaky": True}))
                changed = True
            else:
                cases.append(case)
        out.append(run.model_copy(update={"cases": tuple(cases)}) if changed else run)
    return tuple(out)


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
