"""Realized outcomes without an LLM: which version introduced each bullet (a human's or the
bot's), which clusters a human's bullet targets and why, and what a bullet did to them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prompt_trainer.bullets import bullets
from prompt_trainer.cli import main
from prompt_trainer.github import GitHubClient
from prompt_trainer.loop.followup import observed
from prompt_trainer.measure import load_reports
from prompt_trainer.measure.outcomes import (
    BulletOutcome,
    Rate,
    attribute,
    mentions,
    term_targets,
    terms,
)
from prompt_trainer.measure.versions import GitHistory, HashCache, Version, resolve_versions
from prompt_trainer.memory import BulletEntry, bullets_path, outcome_of, sync_bullets
from prompt_trainer.settings import Settings, Target
from tests import test_measure
from tests.conftest import EXAMPLE
from tests.servers.github import FakeGitHub

CURRENT = (EXAMPLE / "CLAUDE.md").read_text()
BRANCH = "prompt-trainer-data"
clone = test_measure.clone  # the bundled example in git, with its two real versions of CLAUDE.md


def versions_of(root: Path, *, seen: tuple[str, ...] = ()) -> list[Version]:
    return resolve_versions(
        Target(name="coder", main="CLAUDE.md"),
        history=GitHistory(root),
        cache=HashCache(root / "versions.json"),
        current=None,
        seen=seen,
    )


# -- attribution ------------------------------------------------------------------------------


def test_a_human_bullet_is_attributed_to_the_first_version_whose_file_holds_it(
    clone: Path,
) -> None:
    versions = versions_of(clone)
    first, second = versions
    assert first.subject == "First rules" and second.subject.startswith("Learned rules")
    decimal, tests_rule, describe = (bullets(CURRENT)[n] for n in (1, 2, 4))

    money = attribute(versions, "CLAUDE.md", decimal)
    assert (money.introduced, money.before, money.holding) == (second, (first,), (second,))
    kept = attribute(versions, "CLAUDE.md", tests_rule)  # unchanged since the first version
    assert (kept.introduced, kept.before, kept.holding) == (first, (), (first, second))
    # A bullet the second version reworded is a new bullet: the second version introduced it.
    assert attribute(versions, "CLAUDE.md", describe).introduced == second
    assert attribute(versions, "AGENTS.md", decimal).introduced is None  # another file
    assert attribute(versions, "CLAUDE.md", "Never seen.").introduced is None


def test_versions_only_samples_name_count_on_neither_side(clone: Path) -> None:
    """A version whose contents are unknown (no commit has it) cannot say whether it held a
    bullet: it is neither before nor after."""
    versions = versions_of(clone, seen=("f" * 12,))
    assert [v.known for v in versions] == [True, True, False]
    money = attribute(versions, "CLAUDE.md", bullets(CURRENT)[1])
    assert money.introduced == versions[1] and money.holding == (versions[1],)
    assert versions[2] not in money.before


# -- terms -------------------------------------------------------------------------------------


def test_terms_are_identifiers_paths_and_commands_never_plain_words() -> None:
    assert [terms(b) for b in bullets(CURRENT)] == [
        ("invoices/", "invoices/api_client.py", "ApiClient"),
        ("Decimal", "quantize(", "ROUND_HALF_UP", "round("),
        ("tests/",),
        ("ruff check",),
        (),  # "Describe what you changed ...": nothing specific to this repository
    ]
    prose = "Use BillingHttpClient and fx_rates in src/app.ts, e.g. via HTTP; `npm run lint`."
    assert terms(prose) == ("npm run lint", "BillingHttpClient", "fx_rates", "src/app.ts")


def test_a_term_matches_a_whole_token_a_call_or_a_phrase() -> None:
    assert mentions("ApiClient", "extend ApiClient instead.")
    assert not mentions("ApiClient", "creating BillingApiClient")
    assert not mentions("Decimal", "decimal places")  # case-sensitive
    assert mentions("quantize(", "rounded with `quantize(Decimal('0.01'))`")
    assert not mentions("quantize(", "quantize with ROUND_HALF_UP")
    assert mentions("ruff check", "$ ruff check src")
    assert not mentions("invoices/", "invoices/fees.py")  # a directory is not every file in it


def test_a_human_bullet_targets_the_clusters_whose_evidence_names_its_terms() -> None:
    evidence = {
        "rounding": "AssertionError: assert 10.004 == Decimal('10.00') | Money must be rounded "
        "with `quantize(Decimal('0.01'), ROUND_HALF_UP)`",
        "client": "This adds a second HTTP client. We already have `ApiClient` in "
        "`invoices/api_client.py` | AttributeError: module 'invoices.billing' has no attribute",
        "timeout": "ConnectionError: HTTPSConnectionPool(host='billing.example.com') Read timed "
        "out | The reminder job calls the billing API without the retry wrapper.",
    }
    decimal, service = bullets(CURRENT)[1], bullets(CURRENT)[0]
    assert term_targets(decimal, evidence) == {
        "rounding": ("Decimal", "quantize(", "ROUND_HALF_UP")
    }
    assert term_targets(service, evidence) == {"client": ("invoices/api_client.py", "ApiClient")}
    assert term_targets(bullets(CURRENT)[4], evidence) == {}  # no term: no claim
    # A term in the evidence of most clusters names none of them in particular.
    everywhere = {k: v + " Decimal" for k, v in evidence.items()}
    assert term_targets("Use `Decimal`.", everywhere) == {}


# -- what a bullet did ---------------------------------------------------------------------------


def test_a_bullets_outcome_is_helpful_harmful_and_a_one_sided_fisher_p() -> None:
    fell = BulletOutcome(before=Rate(4, 6), after=Rate(1, 6))
    assert (fell.helpful, fell.harmful) == (5, 1)
    assert fell.p_value == pytest.approx(96 / 792)  # P(X >= 4) of the hypergeometric
    assert fell.verdict(min_after=5) == "fell"
    assert fell.summary(min_after=5) == (
        "4 of 6 PRs before, 1 of 6 since (p = 0.12, one-sided Fisher): fell"
    )
    stayed = BulletOutcome(before=Rate(2, 6), after=Rate(3, 6))
    assert stayed.verdict(min_after=5) == "did not fall"
    assert stayed.p_value == pytest.approx(696 / 792)  # P(X >= 2): no sign it fell
    assert BulletOutcome(Rate(2, 6), Rate(0, 2)).verdict(min_after=5) == "too few PRs since"
    assert BulletOutcome(Rate(0, 0), Rate(2, 6)).verdict(min_after=5) == "still occurs"
    assert BulletOutcome(Rate(0, 0), Rate(0, 6)).verdict(min_after=5) == "no recurrence"
    assert BulletOutcome(Rate(0, 0), Rate(2, 6)).p_value is None
    assert Rate.of(["a", "b", "c"], ["b", "z"]) == Rate(1, 3)


# -- report on the bundled example -------------------------------------------------------------


def test_report_shows_the_example_clusters_falling_after_the_version_that_added_the_rules(
    clone: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rounding failures in 4 of 6 PRs, then 1 of 6; the second HTTP client in 2 of 6, then 0
    of 6 (examples/basic, as the README's quick start prints it)."""
    monkeypatch.chdir(clone)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    capsys.readouterr()
    assert main(["report", "--format", "json"], env={}) == 0
    (report,) = json.loads(capsys.readouterr().out)
    first, second = (v["label"] for v in report["versions"])
    clusters = {c["label"].split(" (reviews")[0]: c for c in report["clusters"]}
    rounding = clusters["failing test: AssertionError: assert <n> == Decimal(<str>)"]
    client = clusters["failing test: AttributeError: module <str> has no attribute <str>"]
    for cluster, before, after, p in ((rounding, 4, 1, 192 / 792), (client, 2, 0, 30 / 66)):
        assert cluster["rates"] == [
            {"version": first, "hits": before, "prs": 6},
            {"version": second, "hits": after, "prs": 6},
        ]
        comparison = cluster["comparison"]
        assert (comparison["before"], comparison["after"]) == (
            {"hits": before, "prs": 6},
            {"hits": after, "prs": 6},
        )
        assert comparison["p_value"] == pytest.approx(p)
        assert comparison["test"] == "Fisher's exact test, two-sided"
    # Review themes are content words, the code identifiers first ("second" is not one).
    assert "decimal" in rounding["label"] and "apiclient" in client["label"]
    assert "second" not in client["label"]
    assert report["clusters"][0] is rounding  # ranked: most PRs first

    bullets = {b["bullet"]: b for b in report["bullets"]}
    money, service, tests_rule = bullets["B2"], bullets["B1"], bullets["B3"]
    assert (money["introduced"], money["by"]) == (second, "human")
    assert money["targets"] == [
        {
            "cluster": rounding["label"],
            "reason": "shares `Decimal`, `quantize(`, `ROUND_HALF_UP`, `round(`",
        }
    ]
    assert (money["before"], money["after"]) == ({"hits": 4, "prs": 6}, {"hits": 1, "prs": 6})
    assert money["p_value"] == pytest.approx(96 / 792)
    assert (money["helpful"], money["harmful"], money["verdict"]) == (5, 1, "fell")
    assert [t["cluster"] for t in service["targets"]] == [client["label"]]
    assert (service["before"], service["after"]) == ({"hits": 2, "prs": 6}, {"hits": 0, "prs": 6})
    assert (tests_rule["introduced"], tests_rule["targets"], tests_rule["verdict"]) == (
        first,
        [],
        None,
    )

    assert main(["report"], env={}) == 0
    text = capsys.readouterr().out
    assert "## Failure clusters per version" in text
    assert (
        "| failing test: AssertionError: assert <n> == Decimal(<str>) (reviews: decimal, "
        "quantize, round_half_up) | 5 | 4 of 6 | 1 of 6 | 67% → 17%, p = 0.24 |"
    ) in text
    assert "| 2 | 2 of 6 | 0 of 6 | 33% → 0%, p = 0.45 |" in text
    assert "| 4 of 6 | 1 of 6 | 0.12 | fell |" in text  # the Decimal bullet


# -- the ledger across runs --------------------------------------------------------------------


def _run(root: Path, github: FakeGitHub, keep: range) -> list[BulletEntry]:
    """One run on a fresh runner whose store holds the PRs ``keep``: observe the bullets and
    sync the ledger with the data branch (what ``before_training`` does)."""
    ledger = root / ".prompt-trainer" / "samples.jsonl"
    lines = [ln for ln in ledger.read_text().splitlines() if ln]
    ledger.write_text("".join(f"{ln}\n" for ln in lines if int(ln.split("pr-")[1][:3]) in keep))
    bullets_path(root).unlink(missing_ok=True)  # a fresh runner: only the branch remembers
    settings = Settings.load(root / ".github" / "prompt-trainer.yml", {}, root=root)
    reports = {r.target: r for r in load_reports(settings, history=GitHistory(root))}
    client = GitHubClient(api_url=github.api_url, token=github.token, repository=github.full_name)
    known = sync_bullets(root, [], client, BRANCH, push=False, log=print)
    seen = observed(settings, reports, known)
    ledger.write_text("".join(f"{ln}\n" for ln in lines))  # the store as it was
    return sync_bullets(root, seen, client, BRANCH, push=True, log=print)


def test_a_bullets_before_and_after_accumulate_over_two_runs(
    clone: Path, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run one's store holds PRs 101-109, run two's 107-112 (101-106 removed): the Decimal
    rule's entry on the data branch counts all twelve, 4 of 6 before it and 1 of 6 since."""
    github.commit({"README.md": "hi\n"}, branch="main")
    monkeypatch.chdir(clone)
    assert main(["collect", "--local", "evidence"], env={}) == 0
    first = {e.text[:20]: e for e in _run(clone, github, range(101, 110))}
    money = first["Money is `Decimal` e"]
    assert (len(money.before), len(money.after), len(money.hits)) == (6, 3, 5)
    second = {e.text[:20]: e for e in _run(clone, github, range(107, 113))}
    money = second["Money is `Decimal` e"]
    outcome = outcome_of(money)
    assert outcome is not None
    assert (outcome.before.text, outcome.after.text) == ("4 of 6", "1 of 6")
    assert money.by == "human" and money.pull == 0
    (target,) = money.targets
    assert target.reason == "shares `Decimal`, `quantize(`, `ROUND_HALF_UP`, `round(`"
    assert "Decimal" in target.label
    service = second["The service lives in"]
    assert outcome_of(service) == BulletOutcome(Rate(2, 6), Rate(0, 6))
    assert set(second) == {"Money is `Decimal` e", "The service lives in"}  # the others: no target
