"""The review loop: what the bot does when people review or comment on its own pull requests.

Events (``GITHUB_EVENT_NAME`` and the payload at ``GITHUB_EVENT_PATH``):

- ``issue_comment`` on a pull request, with a slash command on its first line:
  ``/prompt-trainer revise``, ``/prompt-trainer explain <file>[:line]``, ``/prompt-trainer close``;
- ``/prompt-trainer report <type>: <description>`` in a comment or review on an *agent* PR (not
  the bot's): a failure no test catches, recorded as evidence on the PR's sample (``failures``);
- ``pull_request_review`` submitted with changes requested or comments: a revision;
- ``pull_request_review_comment``: kept as feedback for the next revision (nothing is pushed for
  each single comment).

Apart from ``report``, only the bot's own PRs (a body with the state block) are handled, and only by
trusted users (``reviews.trusted_associations``, not bots); a command from anyone else gets a
short notice, once. A revision reads every trusted comment not answered yet (suggestion blocks
included), asks the model for itemized edits that each cite the comment they answer, pushes one
new commit on top of the branch (never a force-push), records the answered comments in the state
block, and replies with what changed for each comment. Replies are posted once per comment set,
so a rerun does not repeat them.

A revision passes the same guardrails as a trained candidate (``evaluate.check_candidate``
against the default branch's prompts) before it is pushed; one that fails is not pushed, and the
reply says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prompt_trainer.collect.github_pr import clean_feedback, collect_pull, is_agent_pull
from prompt_trainer.collect.reviews import keep
from prompt_trainer.errors import ConfigError
from prompt_trainer.evaluate import check_candidate
from prompt_trainer.failures import find_sample, parse_report, record
from prompt_trainer.github import GitHubClient
from prompt_trainer.models import Candidate, Feedback, PromptFile, PromptSet, TokenUsage
from prompt_trainer.propose import branch_name
from prompt_trainer.render import STATE_MARKER, read_state, state_text
from prompt_trainer.render.filters import inline
from prompt_trainer.settings import LLMSettings, Settings
from prompt_trainer.store import DEFAULT_STORE, SampleStore
from prompt_trainer.targets import load_prompt_set

Log = Callable[[str], None]
COMMAND = re.compile(r"^\s*/prompt-trainer\s+(revise|explain|close|report)\b[ \t]*(.*)", re.I)
REVIEW_EVENTS = ("issue_comment", "pull_request_review", "pull_request_review_comment")


@dataclass(frozen=True)
class ReviewEvent:
    """What happened, read from a webhook payload."""

    name: str
    number: int
    author: str
    association: str
    is_bot: bool
    body: str
    comment_id: int | None
    review_state: str | None = None


@dataclass
class Response:
    """What the bot did about an event."""

    action: str
    message: str
    commit: str | None = None
    replies: dict[str, str] = field(default_factory=dict)


def parse_event(name: str | None, payload: Mapping[str, Any]) -> ReviewEvent | None:
    """The review event in a payload, or None when it is not one on a pull request."""
    if name not in REVIEW_EVENTS:
        return None
    if name == "issue_comment":
        issue = payload.get("issue") or {}
        if not isinstance(issue, dict) or issue.get("pull_request") is None:
            return None  # a comment on an issue, not on a PR (GitHub omits the key then)
        item, number = payload.get("comment") or {}, issue.get("number")
    elif name == "pull_request_review":
        item, number = (
            payload.get("review") or {},
            (payload.get("pull_request") or {}).get("number"),
        )
    else:
        item, number = (
            payload.get("comment") or {},
            (payload.get("pull_request") or {}).get("number"),
        )
    if not isinstance(number, int) or not isinstance(item, dict):
        return None
    user = item.get("user") or {}
    login = str(user.get("login") or "ghost")
    return ReviewEvent(
        name=name,
        number=number,
        author=login,
        association=str(item.get("author_association") or "NONE"),
        is_bot=user.get("type") == "Bot" or login.endswith("[bot]"),
        body=str(item.get("body") or ""),
        comment_id=item.get("id") if isinstance(item.get("id"), int) else None,
        review_state=str(item.get("state") or "").lower() or None,
    )


def parse_command(body: str) -> tuple[str, str] | None:
    """``(verb, argument)`` of a ``/prompt-trainer`` command on the first line, if any; the
    argument is the rest of that line (``explain`` reads its first word)."""
    first = body.strip().splitlines()[0] if body.strip() else ""
    match = COMMAND.match(first)
    return (match.group(1).lower(), match.group(2).strip()) if match else None


def respond(
    settings: Settings,
    client: GitHubClient,
    event: ReviewEvent,
    *,
    llm: LLMSettings,
    log: Log,
) -> Response:
    """Handle one review event: a failure report on any agent PR, the rest on the bot's PRs."""
    trusted = event.association in settings.config.reviews.trusted_associations and not event.is_bot
    command = parse_command(event.body)
    if command and command[0] == "report":
        if not trusted:
            return _untrusted(client, event, command)
        return report_command(settings, client, event, command[1], log=log)
    body = client.pull_body(event.number)
    state = read_state(body)
    if not state or not isinstance(state.get("target"), str):
        return Response("none", f"#{event.number} is not a prompt-trainer pull request")
    command = command if event.name == "issue_comment" else None
    if event.name == "issue_comment" and command is None:
        return Response("none", "a comment without a /prompt-trainer command: kept as feedback")
    if not trusted:
        return _untrusted(client, event, command)
    if command and command[0] == "close":
        client.comment_once(event.number, "Closing as requested.", key=f"close:{event.comment_id}")
        client.close_pull(event.number)
        return Response("closed", f"#{event.number} closed on request")
    if command and command[0] == "explain":
        where = command[1].split()[0] if command[1].split() else ""
        answer = explain(state, where, client=client, number=event.number)
        client.comment_once(event.number, answer, key=f"explain:{event.comment_id}")
        return Response("explained", answer)
    if event.name == "pull_request_review_comment":
        return Response("none", "review comment kept as feedback for the next revision")
    if event.name == "pull_request_review" and event.review_state == "approved":
        return Response("none", "approved: nothing to revise")
    return revise_pull(settings, client, event.number, body, state, llm=llm, log=log)


def _untrusted(
    client: GitHubClient, event: ReviewEvent, command: tuple[str, str] | None
) -> Response:
    """One notice for a command from someone who may not run it; reviews are just ignored."""
    if command:
        client.comment_once(
            event.number,
            f"@{event.author}: only maintainers (trusted associations) can run "
            "prompt-trainer commands; this one was ignored.",
            key=f"untrusted:{event.comment_id}",
        )
    return Response("ignored", f"{event.author} ({event.association}) is not trusted")


def report_command(
    settings: Settings, client: GitHubClient, event: ReviewEvent, argument: str, *, log: Log
) -> Response:
    """``/prompt-trainer report <type>: <description>`` on an agent PR: record the failure on
    the PR's sample (collecting the PR first when it is not stored yet), write the data branch,
    and acknowledge once."""
    lines = event.body.strip().splitlines()
    parsed = parse_report(argument, "\n".join(lines[1:]))
    key = f"report:{event.comment_id}"
    if isinstance(parsed, str):
        client.comment_once(event.number, f"@{event.author}: {parsed}", key=key)
        return Response("none", parsed)
    # The pipeline pulls in the collectors; only this command needs them here.
    from prompt_trainer.pipeline import sync_store  # noqa: PLC0415

    store = SampleStore(settings.root / DEFAULT_STORE)
    sync_store(store, client, settings, push=False, log=log)
    sample = find_sample(store.load(), event.number)
    if sample is None:
        pull = client.pull(event.number)
        if not is_agent_pull(pull, settings.config.agent):
            text = (
                f"@{event.author}: #{event.number} by {pull.author} is not an agent PR (see "
                "`agent:` in the prompt-trainer config), so the report was not recorded."
            )
            client.comment_once(event.number, text, key=key)
            return Response("none", text)
        log(f"report: #{event.number} is not stored yet; collecting it")
        sample = collect_pull(
            client, event.number, settings=settings, repository=client.info().full_name
        )
        store.upsert([sample])
        sample = find_sample(store.load(), event.number) or sample
    failure, new = record(
        store,
        sample,
        parsed,
        author=event.author,
        max_chars=settings.config.limits.max_text_chars,
        key=str(event.comment_id) if event.comment_id is not None else None,
    )
    sync_store(store, client, settings, push=True, log=log)
    versions = ", ".join(f"{t} `{v[:12]}`" for t, v in sorted(sample.prompt_versions.items()))
    text = (
        f"Recorded a `{failure.type}` report on #{event.number} ({failure.id}), attributed to "
        f"the prompt version(s) it ran on: {versions or 'unknown'}. It is evidence for the next "
        "training run and shows in `prompt-trainer report`."
    )
    client.comment_once(event.number, text, key=key)
    log(f"report: {failure.id} {'recorded' if new else 'was already recorded'}")
    return Response("reported" if new else "none", text)


def explain(state: dict[str, Any], where: str, *, client: GitHubClient, number: int) -> str:
    """The evidence behind the changes to ``file[:line]`` (from the state block)."""
    path, _, line_text = where.partition(":")
    if not path:
        return "Usage: `/prompt-trainer explain <file>[:line]`."
    changes = [
        c for c in state.get("changes") or [] if isinstance(c, dict) and c.get("path") == path
    ]
    if line_text.isdigit() and changes:
        head = client.branch_head(branch_name(str(state["target"])))
        text = client.read_text(path, ref=head) if head else None
        lines = (text or "").splitlines()
        wanted = int(line_text)
        target_line = lines[wanted - 1] if 0 < wanted <= len(lines) else ""
        near = [c for c in changes if str(c.get("text", ""))[:40] in target_line]
        changes = near or changes
    if not changes:
        return f"No recorded change touches `{path}`: it is as it was before this PR."
    out = [f"Evidence behind the changes to `{where}`:"]
    for c in changes:
        evidence = ", ".join(
            f"[{e}]({e})" if str(e).startswith("http") else f"`{e}`" for e in c.get("evidence", [])
        )
        out.append(f"- **{c.get('op')}**: {str(c.get('text', ''))[:200]} — {evidence}")
    return "\n".join(out)


def _proposed(settings: Settings, client: GitHubClient, target_name: str, head: str) -> PromptSet:
    target = settings.target(target_name)

    class AtHead:
        def read_text(self, path: str) -> str | None:
            return client.read_text(path, ref=head)

        def list_files(self, directory: str) -> list[str]:
            return client.list_files(directory, ref=head)

    return load_prompt_set(target, AtHead())


def revise_pull(
    settings: Settings,
    client: GitHubClient,
    number: int,
    body: str,
    state: dict[str, Any],
    *,
    llm: LLMSettings,
    log: Log,
) -> Response:
    """Revise the candidate on the PR's branch with the trusted comments not answered yet."""
    if not llm.available:
        return Response("none", f"revision skipped: no API key for {llm.model} ({llm.key_var})")
    target_name = str(state["target"])
    answered = {str(a) for a in state.get("answered") or []}
    config = settings.config
    feedback = [
        item
        for item in (
            clean_feedback(f, config.limits.max_text_chars)
            for f in client.feedback(number, trusted=config.reviews.trusted_associations)
        )
        if keep(item, include_bots=False) and item.trusted and _asks(item)
    ]
    fresh = [f for f in feedback if (f.url or f.id) not in answered]
    if not fresh:
        return Response("none", "no new review feedback to act on")
    branch = branch_name(target_name)
    head = client.branch_head(branch)
    if head is None:
        raise ConfigError(f"the branch {branch} of #{number} is gone", fix="close the PR")
    proposed = _proposed(settings, client, target_name, head)
    # DSPy is imported only by modes that call an LLM.
    from prompt_trainer.train.revise import revise  # noqa: PLC0415

    log(f"revise: #{number} with {len(fresh)} new review comment(s)")
    revision = revise(
        proposed,
        settings.target(target_name),
        fresh,
        llm=llm,
        cache_dir=settings.root / ".prompt-trainer" / "cache",
    )
    ids = [f.url or f.id for f in fresh]
    refused = _revision_problems(settings, client, target_name, revision.result.files)
    if refused:
        reply = _refused_reply(refused)
        client.comment_once(number, reply, key=f"refused:{','.join(sorted(ids))}")
        return Response("none", reply, replies=revision.replies)
    changed = {
        path: text
        for path, text in revision.result.files.items()
        if text != next((f.content for f in proposed.files if f.path == path), None)
    }
    commit = None
    if changed:
        commit = client.commit_on_top(
            branch=branch,
            files=dict(changed),
            message=f"prompt-trainer: revise {target_name} after review\n\n"
            + "\n".join(f"Answers {i}" for i in ids),
            parent=head,
        )
        if commit is None:
            return Response("none", f"{branch} moved while revising; run the revision again")
    files = tuple(PromptFile(path=p, content=t) for p, t in sorted(revision.result.files.items()))
    new_state = {
        **state,
        "fingerprint": proposed.model_copy(update={"files": files}).version,
        "commit": commit or head,
        "answered": sorted(answered | set(ids)),
        "changes": list(state.get("changes") or [])
        + [
            {
                "path": a.edit.file or proposed.main.path,
                "op": a.edit.op,
                "text": (a.edit.new_text or a.edit.target_text)[:200],
                "evidence": list(a.evidence),
            }
            for a in revision.result.applied
        ],
    }
    client.edit_pull_body(number, replace_state(body, new_state))
    reply = _reply(fresh, revision.replies, commit, revision.result.dropped)
    client.comment_once(number, reply, key=f"revised:{','.join(sorted(ids))}")
    return Response("revised" if commit else "none", reply, commit=commit, replies=revision.replies)


def _revision_problems(
    settings: Settings, client: GitHubClient, target_name: str, files: dict[str, str]
) -> tuple[str, ...]:
    """The guardrails training runs (``evaluate.check_candidate``: secrets, keep-lines, size and
    growth, subagent names and paths), on the revised files against the default branch's
    prompts. The revision model read only trusted comments, so there is no outside text to
    compare for copies."""
    target = settings.target(target_name)
    base = _proposed(settings, client, target_name, client.info().default_branch)
    candidate = Candidate(
        target=target_name,
        base_version=base.version,
        files=tuple(PromptFile(path=p, content=t) for p, t in sorted(files.items())),
        analysis_summary="",
        usage=TokenUsage(),
        sample_ids=(),
    )
    return check_candidate(candidate, base, target, limits=settings.config.training).problems


def _refused_reply(problems: tuple[str, ...]) -> str:
    lines = ["The revision was not pushed: it fails the guardrails a proposal must pass.", ""]
    lines += [f"- {inline(p, 300)}" for p in problems]
    lines += ["", "Comment again (or `/prompt-trainer revise`) with a narrower request."]
    return "\n".join(lines)


def _asks(item: Feedback) -> bool:
    """Feedback with something to act on: text, or a review that is not a bare approval."""
    if item.kind == "comment" and parse_command(item.body):
        return item.body.strip().count("\n") > 0  # a command with more text after it
    return bool(item.body.strip()) and not (item.kind == "review" and item.state == "APPROVED")


def replace_state(body: str, state: dict[str, Any]) -> str:
    """The body with its state block replaced (or appended)."""
    block = f"<!-- {STATE_MARKER} {state_text(state)} -->"
    start = body.rfind(f"<!-- {STATE_MARKER} ")
    if start < 0:
        return f"{body}\n\n{block}\n"
    end = body.find(" -->", start) + len(" -->")
    return body[:start] + block + body[end:]


def _reply(
    fresh: list[Feedback], replies: dict[str, str], commit: str | None, dropped: list[Any]
) -> str:
    where = f"in {commit[:7]}" if commit else "(no change to the files)"
    lines = [f"Revised after review {where}:"]
    for item in fresh:
        key = item.url or item.id
        link = f"[{item.author}]({item.url})" if item.url else item.author
        lines.append(f"- {link}: {replies.get(key, 'no change made for this comment')}")
    if dropped:
        lines.append("")
        lines += [
            f"Not applied: {e.op} {(e.new_text or e.target_text)[:80]!r}: {why}"
            for e, why in dropped
        ]
    return "\n".join(lines)
