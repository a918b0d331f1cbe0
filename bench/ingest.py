"""Ingest benchmark: throughput and peak RSS of the JUnit and trace collectors.

Run with ``.venv/bin/python bench/ingest.py`` (``--keep DIR`` reuses generated inputs). It writes
the inputs into a temporary directory, then measures each case in a fresh subprocess so that
peak RSS (``ru_maxrss``) belongs to that case alone. Throughput is over the parse only; the
one-off import time is printed beside it as ``import_s``:

(a) one ~50 MB JUnit report with 100,000 cases (5% failing, with messages and system-out);
(b) 1,000 small JUnit reports;
(c) one ~200 MB Claude Code transcript (JSONL), with tool calls, results and usage;
and, as the baselines, junitparser's whole-tree parse of (a) and a bare expat pass over (a)
that only counts ``testcase``/``failure`` elements.

JUnit target (issue 28): ``prompt-trainer inspect --json`` on (a), timed as a whole command in a
fresh process like the bare pass and junitparser (each its own process, run in turns so that
machine noise hits all three), takes at most 2x the bare pass's wall time (``ratio_to_bare``),
less than junitparser's (``ratio_to_junitparser`` under 1), at a peak RSS under 50 MB. The
same line prints each process's CPU time (user + system; ``cpu_ratio_to_bare``), which a
machine busy with other work disturbs far less than wall time.

Each case runs ``--repeat`` times (default 3) in fresh processes; the fastest run is printed
with the largest peak RSS of all runs. The trace parse (c) and its baseline, a bare
``json.loads`` per line of the same file, run in turns so both see the same machine load; (c)
uses the default ``limits.max_trace_bytes``, and ``x_bare`` is its time over the baseline's.

Targets (issue 3): (a) >= 40 MB/s with peak RSS <= 100 MB; (c) >= 50 MB/s, peak RSS <= 150 MB.
(c), issue 17: the trace parse within 2x the bare json.loads pass (``x_bare``), peak RSS <= 80 MB.
``--only inspect`` runs just that comparison (all three, in one line).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = 100_000
SMALL_FILES = 1_000
TRACE_BYTES = 200 * 1024 * 1024


def make_big_junit(path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
        for suite in range(CASES // 1000):
            out.write(f'<testsuite name="pkg.module{suite}" tests="1000">\n')
            for case in range(1000):
                n = suite * 1000 + case
                out.write(
                    f'  <testcase classname="pkg.module{suite}.TestThing" name="test_case_{n}" '
                    f'file="pkg/module{suite}/test_thing.py" line="{case + 10}" time="0.{n % 997:03d}">\n'
                )
                if n % 20 == 0:
                    out.write(
                        '    <failure message="AssertionError: expected 3 == 4" type="AssertionError">'
                        + "Traceback (most recent call last):\n  File &quot;x.py&quot;, line 3\n"
                        * 4
                        + "</failure>\n"
                    )
                out.write(
                    "    <system-out>"
                    + f"log line for case {n}: doing some work with value {n * 7}\n" * 6
                    + "</system-out>\n"
                )
                out.write("  </testcase>\n")
            out.write("</testsuite>\n")
        out.write("</testsuites>\n")


def make_small_junit(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(SMALL_FILES):
        cases = "".join(
            f'<testcase classname="m{i}.T" name="t{j}" time="0.01">'
            + ('<failure message="boom">tb</failure>' if j == 0 and i % 10 == 0 else "")
            + "</testcase>"
            for j in range(20)
        )
        (directory / f"TEST-{i}.xml").write_text(
            f'<?xml version="1.0"?><testsuite name="m{i}" tests="20">{cases}</testsuite>'
        )


def make_trace(path: Path) -> None:
    text = "x" * 200
    with path.open("w", encoding="utf-8") as out:
        out.write(
            json.dumps(
                {
                    "type": "system",
                    "subtype": "init",
                    "model": "claude-sonnet-4-5",
                    "session_id": "s1",
                }
            )
            + "\n"
        )
        written, n = 0, 0
        while written < TRACE_BYTES:
            n += 1
            mid = f"msg_{n}"
            usage = {
                "input_tokens": 10,
                "output_tokens": 20,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 5,
            }
            lines = [
                {
                    "type": "assistant",
                    "sessionId": "s1",
                    "message": {
                        "id": mid,
                        "model": "claude-sonnet-4-5",
                        "role": "assistant",
                        "usage": usage,
                        "content": [{"type": "text", "text": f"Step {n}: {text}"}],
                    },
                },
                {
                    "type": "assistant",
                    "sessionId": "s1",
                    "message": {
                        "id": mid,
                        "model": "claude-sonnet-4-5",
                        "role": "assistant",
                        "usage": usage,
                        "content": [
                            {
                                "type": "tool_use",
                                "id": f"tu_{n}",
                                "name": "Bash",
                                "input": {"command": f"pytest -k case_{n}"},
                            }
                        ],
                    },
                },
                {
                    "type": "user",
                    "sessionId": "s1",
                    "message": {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": f"tu_{n}",
                                "is_error": n % 10 == 0,
                                "content": "output " + text * 3,
                            }
                        ],
                    },
                },
            ]
            for line in lines:
                encoded = json.dumps(line) + "\n"
                out.write(encoded)
                written += len(encoded)


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import os
case, target = sys.argv[1], Path(sys.argv[2])
imported = time.perf_counter()
if case == "bare":
    import pyexpat
elif case == "junitparser":
    from junitparser import JUnitXml
else:
    from prompt_trainer.collect.junit import parse_report
    from prompt_trainer.collect.traces import parse_trace
start = time.perf_counter()
import_s = start - imported
if case == "bare":
    counts = {"testcase": 0, "failure": 0}
    def count_start(name, attrs):
        if name in counts:
            counts[name] += 1
    parser = pyexpat.ParserCreate()
    parser.StartElementHandler = count_start
    with target.open("rb") as handle:
        while chunk := handle.read(256 * 1024):
            parser.Parse(chunk, False)
    parser.Parse(b"", True)
    detail = {"tests": counts["testcase"], "failed": counts["failure"]}
elif case == "junitparser":
    xml = JUnitXml.fromfile(str(target))
    tests = sum(1 for suite in xml for _ in suite)
    detail = {"tests": tests}
elif case == "junit-many":
    tests = 0
    for path in sorted(target.iterdir()):
        run = parse_report(path, source=path.name, max_bytes=10**9)
        tests += run.tests
    detail = {"tests": tests}
elif case == "junit":
    run = parse_report(target, source=target.name, max_bytes=10**9)
    detail = {"tests": run.tests, "failed": run.count("failed")}
elif case == "trace-bare":
    lines = 0
    with target.open("rb") as handle:
        for line in handle:
            json.loads(line)
            lines += 1
    detail = {"lines": lines}
else:
    from prompt_trainer.settings import Limits

    default = getattr(Limits(), "max_trace_bytes", Limits().max_report_bytes)  # older trees
    cap = int(os.environ.get("BENCH_TRACE_CAP") or default)
    trace = parse_trace(target, source=target.name, max_bytes=cap)
    if not hasattr(trace, "format"):
        detail = {"skipped": trace.reason}
    else:
        detail = {"format": trace.format, "tool_calls": trace.tool_calls, "steps": len(trace.steps)}
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "import_s": round(import_s, 2), "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, **detail}))
"""


def measure(case: str, target: Path, size: int, repeat: int) -> dict[str, object]:
    """Best of ``repeat`` fresh processes (the machine's noise only ever slows a run down)."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, case, str(target)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout))
    result = min(runs, key=lambda r: float(r["seconds"]))
    result["rss_kb"] = max(int(r["rss_kb"]) for r in runs)
    result["runs"] = repeat
    seconds = float(result["seconds"])
    result["mb"] = round(size / 1e6, 1)
    result["mb_per_s"] = round(size / 1e6 / seconds, 1)
    result["peak_rss_mb"] = round(int(result.pop("rss_kb")) / 1024, 1)
    result["seconds"] = round(seconds, 2)
    return result


def _one_process(command: list[str]) -> tuple[float, int, float]:
    """Wall time, peak RSS (KiB) and CPU time (user + system) of one fresh process running
    ``command``. CPU time is what a loaded machine disturbs least: it is printed beside."""
    script = (
        "import resource, subprocess, sys, time; start = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(time.perf_counter() - start, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, *command], capture_output=True, text=True, check=True
    )
    seconds, rss, cpu = out.stdout.split()
    return float(seconds), int(rss), float(cpu)


BARE = r"""
import pyexpat, sys
counts = {"testcase": 0, "failure": 0}
def start(name, attrs):
    if name in counts:
        counts[name] += 1
parser = pyexpat.ParserCreate()
parser.StartElementHandler = start
with open(sys.argv[1], "rb") as handle:
    while chunk := handle.read(256 * 1024):
        parser.Parse(chunk, False)
parser.Parse(b"", True)
print(counts)
"""


JUNITPARSER = r"""
import sys
from junitparser import Error, Failure, JUnitXml, Skipped
counts = {"tests": 0, "failed": 0, "errors": 0, "skipped": 0}
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        counts["tests"] += 1
        kinds = {type(r) for r in case.result}
        counts["failed"] += Failure in kinds
        counts["errors"] += Error in kinds
        counts["skipped"] += Skipped in kinds
print(counts)
"""


def measure_inspect(big: Path, repeat: int) -> dict[str, object]:
    """``prompt-trainer inspect --json`` beside the bare expat pass and junitparser (parse, then
    count the cases by result), each a whole fresh process (interpreter start and imports
    included), run in turns so that machine noise hits all three; best wall time of each, the
    largest peak RSS of each."""
    cli = Path(sys.executable).with_name("prompt-trainer")
    commands = {
        "bare": [sys.executable, "-c", BARE, str(big)],
        "inspect": [str(cli), "inspect", "--json", str(big)],
        "junitparser": [sys.executable, "-c", JUNITPARSER, str(big)],
    }
    runs: dict[str, list[tuple[float, int, float]]] = {key: [] for key in commands}
    for _ in range(repeat):
        for key, command in commands.items():
            runs[key].append(_one_process(command))
    best = {key: min(t for t, _, _ in found) for key, found in runs.items()}
    rss = {key: max(r for _, r, _ in found) / 1024 for key, found in runs.items()}
    cpu = {key: min(c for _, _, c in found) for key, found in runs.items()}
    return {
        "seconds": round(best["inspect"], 2),
        "bare_s": round(best["bare"], 2),
        "junitparser_s": round(best["junitparser"], 2),
        "ratio_to_bare": round(best["inspect"] / best["bare"], 2),
        "ratio_to_junitparser": round(best["inspect"] / best["junitparser"], 2),
        "peak_rss_mb": round(rss["inspect"], 1),
        "bare_rss_mb": round(rss["bare"], 1),
        "junitparser_rss_mb": round(rss["junitparser"], 1),
        "cpu_s": round(cpu["inspect"], 2),
        "bare_cpu_s": round(cpu["bare"], 2),
        "junitparser_cpu_s": round(cpu["junitparser"], 2),
        "cpu_ratio_to_bare": round(cpu["inspect"] / cpu["bare"], 2),
        "runs": repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", type=Path, help="generate inputs here (once) and reuse them")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is shown")
    parser.add_argument(
        "--only",
        choices=["inspect", "junit", "bare", "junitparser", "junit-many", "trace-bare", "trace"],
        action="append",
    )
    parser.add_argument(
        "--trace-cap",
        type=int,
        metavar="BYTES",
        help="trace cap for (c) (default: limits.max_trace_bytes's default)",
    )
    args = parser.parse_args()
    if args.trace_cap:
        os.environ["BENCH_TRACE_CAP"] = str(args.trace_cap)  # read by the child processes
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        big, many, trace = root / "big.xml", root / "many", root / "trace.jsonl"
        started = time.perf_counter()
        if not big.exists():
            make_big_junit(big)
        if not many.exists():
            make_small_junit(many)
        if not trace.exists():
            make_trace(trace)
        print(f"inputs ready in {time.perf_counter() - started:.1f}s under {root}", file=sys.stderr)
        many_size = sum(p.stat().st_size for p in many.iterdir())
        if not args.only or "inspect" in args.only:
            result = measure_inspect(big, args.repeat)
            label = "(a) inspect --json vs bare expat, junitparser"
            print(f"{label:45s} " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)
        cases = {
            "junit": ("(a) one JUnit report, 100k cases", big, big.stat().st_size),
            "bare": ("(a) baseline: bare expat count", big, big.stat().st_size),
            "junitparser": ("(a) baseline: junitparser whole-tree parse", big, big.stat().st_size),
            "junit-many": ("(b) 1,000 small JUnit reports", many, many_size),
            "trace-bare": ("(c) baseline: bare json.loads per line", trace, trace.stat().st_size),
            "trace": ("(c) one Claude Code JSONL trace", trace, trace.stat().st_size),
        }
        pair = ("trace-bare", "trace")
        for key, (label, target, size) in cases.items():
            if (args.only and key not in args.only) or key in pair:
                continue
            result = measure(key, target, size, args.repeat)
            print(f"{label:45s} " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)
        wanted = [key for key in pair if not args.only or key in args.only]
        results = measure_alternating(wanted, trace, trace.stat().st_size, args.repeat)
        if len(results) == 2:
            results["trace"]["x_bare"] = round(
                float(str(results["trace"]["seconds"]))
                / max(float(str(results["trace-bare"]["seconds"])), 1e-9),
                2,
            )
        for key, result in results.items():
            label = cases[key][0]
            print(f"{label:45s} " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)


def measure_alternating(
    keys: list[str], target: Path, size: int, repeat: int
) -> dict[str, dict[str, object]]:
    """The trace parse and its bare ``json.loads`` baseline, run in turns (bare, parse, bare,
    parse...) so that both see the same machine load; best time and largest RSS of each."""
    runs: dict[str, list[dict[str, object]]] = {key: [] for key in keys}
    for _ in range(repeat):
        for key in keys:
            runs[key].append(measure(key, target, size, 1))
    best: dict[str, dict[str, object]] = {}
    for key, results in runs.items():
        chosen = dict(min(results, key=lambda r: float(str(r["seconds"]))))
        chosen["peak_rss_mb"] = max(float(str(r["peak_rss_mb"])) for r in results)
        chosen["runs"] = repeat
        best[key] = chosen
    return best


if __name__ == "__main__":
    main()
