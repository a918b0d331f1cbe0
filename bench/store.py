"""Store benchmark: storing a backfill one sample at a time, then merging a data branch.

Run with ``.venv/bin/python bench/store.py [--samples N]``. ``collect --since`` stores each
sample as soon as it is collected (so a failure loses nothing); this measures that pattern on
N samples of about 22 KB each (ten 2,000-character review comments), and a replace of one sample
in the full ledger. Before the append path (rewrite per sample), 1,000 samples took 75 s.
Then the worst data-branch merge: every sample also on the branch, collected again later there,
with a reported failure on one in ten local samples that must survive.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from prompt_trainer.models import FailureReport, Feedback, PullRequestInfo, Sample
from prompt_trainer.store import SampleStore, merge_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    comments = tuple(
        Feedback(kind="comment", id=f"c{i}", author="maria", body="x" * 2000) for i in range(10)
    )
    now = datetime.now(UTC)
    samples = [
        Sample(id=f"o/r#{n}", pull=PullRequestInfo(number=n), feedback=comments, collected_at=now)
        for n in range(args.samples)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = SampleStore(Path(tmp) / "samples.jsonl")
        start = time.perf_counter()
        for sample in samples:
            store.upsert([sample])
        added = time.perf_counter() - start
        start = time.perf_counter()
        store.upsert([samples[0]])
        replaced = time.perf_counter() - start
        size = store.path.stat().st_size
    report = FailureReport(id="failure:x#c1", type="other", description="missed a step")
    local = [
        (s.model_copy(update={"failures": (report,)}) if n % 10 == 0 else s).model_dump_json()
        for n, s in enumerate(samples)
    ]
    later = datetime(2099, 1, 1, tzinfo=UTC)
    remote = [s.model_copy(update={"collected_at": later}).model_dump_json() for s in samples]
    start = time.perf_counter()
    merged, _ = merge_lines(local, remote)
    merging = time.perf_counter() - start
    kept = sum('"failure:x#c1"' in line for line in merged)
    print(
        f"merge a branch where all {args.samples} samples changed: {merging:.2f} s "
        f"({kept} reported failure(s) kept)"
    )
    print(f"store one by one: {args.samples} samples, {size / 1e6:.1f} MB ledger, {added:.2f} s")
    print(f"replace one sample in the full ledger: {replaced:.2f} s")


if __name__ == "__main__":
    main()
