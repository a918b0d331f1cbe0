"""Reflect on every kind of failure, newest first: one reflection per failure cluster on its
newest samples, earlier prompt versions as evidence, reflections read item by item, and the
curation shown the cited evidence and each cluster's support (against the local LM server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prompt_trainer.measure.clusters import cluster_samples
from prompt_trainer.memory import Memory
from prompt_trainer.models import Sample
from prompt_trainer.settings import LLMSettings, Target
from prompt_trainer.train import TrainRequest, train
from tests.scripted import field, lenient, reflect, sections
from tests.servers.llm import FakeLLM, by_signature, chat_adapter_reply, user_text
from tests.synthetic import CURRENT, KINDS, kind_of, six_clusters

TARGET = Target(name="coder", main="CLAUDE.md")


def request(samples: list[Sample], llm: FakeLLM, tmp: Path, **options: Any) -> TrainRequest:
    return TrainRequest(
        target=TARGET,
        current=CURRENT,
        samples=[s for s in samples if s.prompt_versions["coder"] == CURRENT.version],
        llm=LLMSettings(model="openai/gpt-4.1", api_base=llm.api_base),
        cache_dir=tmp / "cache",
        holdout=0,
        memory=Memory(stored=tuple(samples)),
        **options,
    )


def nothing(request: dict[str, Any]) -> str:
    return chat_adapter_reply(edits=[], analysis_summary="No edit is justified.")


def reflections(llm: FakeLLM) -> list[dict[str, Any]]:
    return [r for r in llm.requests if "[[ ## root_cause ## ]]" in str(r["messages"][0])]


def test_at_100_prs_every_one_of_six_clusters_is_reflected_on_with_its_newest_samples(
    llm: FakeLLM, tmp_path: Path
) -> None:
    """25 calls for training alone (no held-out judge here: its calls are reserved apart)."""
    samples = six_clusters(100)
    llm.script = [by_signature(root_cause=reflect, edits=nothing, verdicts=lenient)]
    (candidate,) = train(request(samples, llm, tmp_path), "evolve")
    asked = [(field(r, "cluster")["id"], field(r, "samples")) for r in reflections(llm)]
    clusters = cluster_samples(samples, target="coder")
    assert len(clusters) == 6
    first = asked[:6]  # every cluster once before any gets a second call
    assert sorted(c for c, _ in first) == sorted(c.id for c in clusters)
    kinds = {c.id: kind_of(int(c.samples[-1].rsplit("#", 1)[1])) for c in clusters}
    assert sorted(str(k) for k in kinds.values()) == sorted(KINDS)  # one cluster per kind
    for cluster_id, shown in first:
        newest = [n for n in range(100, 0, -1) if kind_of(n) == kinds[cluster_id]][:3]
        assert [s["id"] for s in shown] == [f"example/invoices#{n}" for n in newest]
        assert all(s["focus"] for s in shown)  # each says which items show the failure
    # The budget (25 calls, no held-out evaluation here) pays a second, older batch for each.
    assert len(asked) == 12 and [c for c, _ in asked[6:]] == [c for c, _ in first]
    assert [c.reflected for c in candidate.clusters] == [2] * 6
    assert candidate.no_change == "the curation proposed no edit"


def test_a_merged_version_does_not_reset_what_is_learned_from(llm: FakeLLM, tmp_path: Path) -> None:
    """PRs 1-20 ran on v1, 21-30 on the current version. The rounding failure occurs once under
    the current version (PR 22; PR 29 is left out here): its reflection also sees the two newest
    v1 PRs that show it, labelled with their version. Unsorted imports no longer occur (PRs 21
    and 28 are left out too): that cluster is left out, with the reason."""
    samples = [s for s in six_clusters(30, earlier=20) if s.pull.number not in (21, 28, 29)]
    llm.script = [by_signature(root_cause=reflect, edits=nothing, verdicts=lenient)]
    (candidate,) = train(request(samples, llm, tmp_path), "evolve")
    shown = {field(r, "cluster")["label"][:22]: field(r, "samples") for r in reflections(llm)}
    rounding = shown["failing test: Assertio"]
    assert [s["id"] for s in rounding] == [f"example/invoices#{n}" for n in (22, 14, 7)]
    current, *earlier = rounding
    assert "earlier_version" not in current
    assert {s["earlier_version"] for s in earlier} == {"v1"}
    imports = next(
        c for c in candidate.clusters if c.label.startswith("review: ruff check imports")
    )
    assert imports.reflected == 0 and "not seen under the current prompts" in imports.left_out
    assert "left out: review: ruff check imports" in candidate.analysis_summary


def test_a_reflection_is_read_item_by_item_and_the_curation_sees_evidence_and_support(
    llm: FakeLLM, tmp_path: Path
) -> None:
    def sloppy(request: dict[str, Any]) -> str:
        cited = [f"{s['id']}/{s['focus'][0]}" for s in field(request, "samples")]
        return chat_adapter_reply(
            root_cause="Amounts are computed in float.",
            correct_approach="Parse with `Decimal(str)`; round with `quantize`.",
            bullets="```json\n"
            + json.dumps(
                [
                    {"bullet": "CLAUDE.md B2", "verdict": "Ignored", "note": "not followed"},
                    {"bullet": "CLAUDE.md B3", "verdict": "neutral"},
                    "B1 helped",
                    {"id": "missing", "status": "missing", "why": "no rule on parsing"},
                ]
            )
            + "\n```",
            evidence=", ".join(cited),
        )

    llm.script = [by_signature(root_cause=sloppy, edits=nothing, verdicts=lenient)]
    (candidate,) = train(request(six_clusters(30), llm, tmp_path), "evolve")
    curation = next(r for r in llm.requests if "[[ ## edits ## ]]" in str(r["messages"][0]))
    clusters = field(curation, "clusters")
    assert len(clusters) == 6
    rounding = next(c for c in clusters if "Decimal" in c["label"])
    assert rounding["support"] == "4 PRs (maria)" and rounding["supported"] is True
    (said, *_) = rounding["reflections"]
    assert said["bullets"] == [
        {"bullet": "CLAUDE.md B2", "verdict": "ignored", "note": "not followed"},
        {"bullet": "missing", "verdict": "missing", "note": "no rule on parsing"},
    ]
    assert said["evidence"][0].startswith("https://github.com/example/invoices/pull/")
    quoted = {e["what"]: e["text"] for e in rounding["evidence"]}
    assert quoted["review by maria"].startswith("Float again: use Decimal and quantize")
    assert quoted["failed test"] == "AssertionError: assert 10.004999 == Decimal('10.00')"
    assert "bullet item 2: verdict 'neutral'" in candidate.analysis_summary
    assert "bullet item 3: not an object" in candidate.analysis_summary
    assert "bullet_outcomes" in sections(curation)  # the place realized outcomes go
    assert "Float again" in user_text(curation)
