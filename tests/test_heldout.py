"""Which samples the per-edit judge holds out: failures per cluster, newest first, a few PRs
without a problem, within 40% of the call budget, each cluster keeping two PRs to train on."""

from __future__ import annotations

from prompt_trainer.evaluate.heldout import evaluation_calls, plan_held_out
from prompt_trainer.measure.clusters import cluster_samples
from prompt_trainer.models import Feedback, Sample
from tests.test_judge import pr

KINDS = ["rounding", "client", "clean", "clean"] * 4 + ["rounding", "client"] * 2


def twenty() -> list[Sample]:
    return [pr(100 + n, kind, "v1") for n, kind in enumerate(KINDS)]


def numbers(samples: list[Sample]) -> list[int]:
    return [s.pull.number or 0 for s in samples]


def test_twenty_prs_hold_out_four_failures_of_each_kind_and_check_two_clean_prs() -> None:
    samples = twenty()
    plan = plan_held_out(samples, cluster_samples(samples), max_calls=25)
    assert plan.max_calls == evaluation_calls(25) == 10
    # Clusters in rank order (six PRs each; the client one seen last), newest first in each:
    # pass one takes three of each kind, pass two one more each.
    assert numbers(plan.held_out) == [119, 117, 113, 118, 116, 112, 109, 108]
    assert numbers(plan.checked) == [115, 114]  # the newest PRs without a problem
    assert len(plan.held_out) + len(plan.checked) == 10
    kept = {c.label.split(":")[1].strip()[:14]: c.prs - c.held_out for c in plan.clusters}
    assert sorted(kept.values()) == [2, 2]  # each kind keeps two PRs to train on
    assert sorted(numbers(plan.training)) == [100, 101, 102, 103, 104, 105, 106, 107, 110, 111]
    assert [f.ref for f in plan.failures] == ["F1"] * 8  # one failure per PR and cluster


def test_a_failing_test_and_the_comment_explaining_it_are_one_failure() -> None:
    samples = twenty()
    plan = plan_held_out(samples, cluster_samples(samples), max_calls=25)
    (failure,) = plan.failures_of("o/invoices#118")
    assert failure.label.startswith("failing test: AssertionError")
    assert len(failure.evidence) == 2  # the test and the reviewer's comment


def test_a_cluster_of_two_prs_keeps_both_and_a_singleton_without_support_is_a_control() -> None:
    samples = [pr(1, "rounding", "v1"), pr(2, "rounding", "v1"), pr(3, "client", "v1")]
    plan = plan_held_out(samples, cluster_samples(samples), max_calls=25)
    assert numbers(plan.held_out) == [3]  # the lone client PR; both rounding PRs train


def test_a_singleton_a_trusted_reviewer_asked_about_keeps_its_pr() -> None:
    asked = pr(3, "client", "v1")
    request = asked.feedback[0].model_copy(update={"state": "CHANGES_REQUESTED"})
    samples = [asked.model_copy(update={"feedback": (request,)})]
    samples.append(pr(4, "clean", "v1"))
    plan = plan_held_out(samples, cluster_samples(samples), max_calls=25)
    assert plan.held_out == [] and numbers(plan.checked) == [4]


def test_samples_an_earlier_proposal_was_judged_on_are_not_held_out_again() -> None:
    samples = twenty()
    judged = frozenset(f"o/invoices#{n}" for n in (118, 119, 115))
    plan = plan_held_out(samples, cluster_samples(samples), max_calls=25, judged=judged)
    assert not judged & {s.id for s in plan.held_out + plan.checked}
    assert numbers(plan.checked) == [114, 111]


def test_several_candidates_hold_out_fewer_and_a_small_budget_holds_out_less() -> None:
    samples = twenty()
    two = plan_held_out(samples, cluster_samples(samples), max_calls=25, candidates=2)
    assert len(two.held_out) + len(two.checked) == evaluation_calls(25, 2) == 6
    small = plan_held_out(samples, cluster_samples(samples), max_calls=3)
    assert (numbers(small.held_out), small.checked) == ([119], [])


def test_untrusted_words_make_no_failure_to_hold_out() -> None:
    sample = pr(5, "clean", "v1")
    said = Feedback(kind="comment", id="x", author="drive-by", trusted=False, body="All wrong!")
    samples = [sample.model_copy(update={"feedback": (said,)}), pr(6, "clean", "v1")]
    plan = plan_held_out(samples, cluster_samples(samples), max_calls=25)
    assert plan.failures == () and numbers(plan.checked) == [6, 5]
