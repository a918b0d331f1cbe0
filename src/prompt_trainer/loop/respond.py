"""The review loop: what the bot does when people review or comment on its own pull requests.

Events (``GITHUB_EVENT_NAME`` and the payload at ``GITHUB_EVENT_PATH``, read by ``loop.events``
into a ``ReviewEvent``):

- ``issue_comment`` on a pull request, with a slash command on its first line:
  ``/prompt-trainer revise``, ``/prompt-trainer explain <file>[:line]``, ``/prompt-trainer close``;
- ``/prompt-trainer report <type>: <description>`` in a comment or review on an *agent* PR (not
  the bot's): a failure no test catches, recorded as evidence on the PR's sample (``failures``);
- ``pull_request_review`` submitted with changes requested or comments: a revision;
- ``pull_request_review_comment``: kept as feedback for the next revision (nothing is pushed for
  each single comment).

Apart from ``report``, only the bot's own PRs are handled: opened by one of its logins
(``pull_request.bot_logins``) from ``prompt-trainer/<target>`` of this repository, with the state
block in the body; a PR that only looks like one (its branch name, a state block anyone can type)
is not. Commands count only from people with write access to the repository (write, maintain or
admin, asked of the collaborator-permission API; never bots); a command from anyone else gets a
short notice, once, and changes nothing. A revision reads every trusted comment not answered
yet (suggestion blocks included), asks the model for itemized edits that each cite the comment
they answer, pushes one new commit on top of the branch (never a force-push), records the
answered comments in the state block, and replies with what changed for each comment. Replies
are posted once per comment set, so a rerun does not repeat them.

A revision passes the same guardrails as a trained candidate (``evaluate.check_candidate``
against the default branch's prompts) before it is pushed; one that fails is not pushed, and the
reply says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prompt_trainer import workdir
from prompt_trainer.collect.github_pr import (
    collect_pull,
    is_agent_pull,
    judged_feedback,
)
from prompt_trainer.errors import ConfigError
from prompt_trainer.evaluate import check_candidate
from prompt_trainer.github import GitHubClient
from prompt_trainer.loop.events import ReviewEvent
from prompt_trainer.loop.failures import find_sample, parse_report, record
from prompt_trainer.models import Candidate, Feedback, PromptFile, PromptSet, TokenUsage
from prompt_trainer.propose import branch_name, own_target
from prompt_trainer.render.filters import inline, span
from prompt_trainer.render.links import RepoLinks, repo_links
from prompt_trainer.render.state import (
    ProposalState,
    StateChange,
    read_state,
    replace_state,
    revised,
)
from prompt_trainer.settings import LLMSettings, Settings
from prompt_trainer.store import open_ledger, sync_store
from prompt_trainer.targets import load_prompt_set

Log = Callable[[str], None]
COMMAND = re.compile(r"^\s*/prompt-trainer\s+(revise|explain|close|report)\b[ \t]*+(.*)", re.I)


@dataclass
class Response:
    """What the bot did about an event."""

    action: str
    message: str
    commit: str | None = None
    replies: dict[str, str] = field(default_factory=dict)


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
    command = parse_command(event.body)
    if command and command[0] == "report":
        if not may_command(client, event, log=log):
            return _untrusted(client, event, command)
        return report_command(settings, client, event, command[1], log=log)
    pull = client.pull_head(event.number)
    target = own_target(pull, tuple(t.name for t in settings.config.targets))
    body = pull.body
    state = read_state(body) if target else None
    if target is None or not state:
        return Response("none", f"#{event.number} is not a prompt-trainer pull request")
    state = state.model_copy(update={"target": target})  # the branch names it, not the body
    command = command if event.name == "issue_comment" else None
    if event.name == "issue_comment" and command is None:
        return Response("none", "a comment without a /prompt-trainer command: kept as feedback")
    if not may_command(client, event, log=log):
        return _untrusted(client, event, command)
    if command and command[0] == "close":
        client.comment_once(event.number, "Closing as requested.", key=f"close:{event.comment_id}")
        client.close_pull(event.number)
        return Response("closed", f"#{event.number} closed on request")
    if command and command[0] == "explain":
        where = command[1].split()[0] if command[1].split() else ""
        links = repo_links(settings.env.github_server_url, client.info().full_name)
        answer = explain(state, where, client=client, number=event.number, links=links)
        client.comment_once(event.number, answer, key=f"explain:{event.comment_id}")
        return Response("explained", answer)
    if event.name == "pull_request_review_comment":
        return Response("none", "review comment kept as feedback for the next revision")
    if event.name == "pull_request_review" and event.review_state == "approved":
        return Response("none", "approved: nothing to revise")
    return revise_pull(settings, client, event.number, body, state, llm=llm, log=log)


def may_command(client: GitHubClient, event: ReviewEvent, *, log: Log) -> bool:
    """The event's author may run commands: write access to the repository (never a bot; the
    operator of ``respond --pr`` holds the token already)."""
    if event.by_operator:
        return True
    if event.is_bot:
        return False
    access = client.write_access(event.author)
    if access.problem:
        log(f"respond: write access of @{event.author} unknown ({access.problem}): untrusted")
    return access.trusted


def _untrusted(
    client: GitHubClient, event: ReviewEvent, command: tuple[str, str] | None
) -> Response:
    """One notice for a command from someone who may not run it; reviews are just ignored."""
    if command:
        client.comment_once(
            event.number,
            f"@{event.author}: only maintainers (people with write access to this repository) "
            "can run prompt-trainer commands; this one was ignored.",
            key=f"untrusted:{event.comment_id}",
        )
    return Response("ignored", f"{event.author} has no write access: not trusted")


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
    store = open_ledger(settings.root)
    sync_store(store, client, settings.config.store.branch, push=False, log=log)
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
    sync_store(store, client, settings.config.store.branch, push=True, log=log)
    versions = ", ".join(f"{t} `{v[:12]}`" for t, v in sorted(sample.prompt_versions.items()))
    text = (
        f"Recorded a `{failure.type}` report on #{event.number} ({failure.id}), attributed to "
        f"the prompt version(s) it ran on: {versions or 'unknown'}. It is evidence for the next "
        "training run and shows in `prompt-trainer report`."
    )
    client.comment_once(event.number, text, key=key)
    log(f"report: {failure.id} {'recorded' if new else 'was already recorded'}")
    return Response("reported" if new else "none", text)


def explain(
    state: ProposalState,
    where: str,
    *,
    client: GitHubClient,
    number: int,
    links: RepoLinks | None = None,
) -> str:
    """The evidence behind the changes to ``file[:line]`` (from the state block). Change text
    and evidence ids are escaped (``render.filters``); only pages of this repository
    (``links``) are links."""
    path, _, line_text = where.partition(":")
    if not path:
        return "Usage: `/prompt-trainer explain <file>[:line]`."
    changes = [c for c in state.changes if c.path == path]
    if line_text.isdigit() and changes:
        head = client.branch_head(branch_name(state.target))
        text = client.read_text(path, ref=head) if head else None
        lines = (text or "").splitlines()
        wanted = int(line_text)
        target_line = lines[wanted - 1] if 0 < wanted <= len(lines) else ""
        near = [c for c in changes if c.text[:40] in target_line]
        changes = near or changes
    if not changes:
        return f"No recorded change touches {span(path)}: it is as it was before this PR."
    out = [f"Evidence behind the changes to {span(where)}:"]
    for c in changes:
        evidence = ", ".join(_evidence_link(e, links) for e in c.evidence)
        out.append(f"- **{inline(c.op, 40)}**: {inline(c.text, 200)} — {evidence}")
    return "\n".join(out)


def _evidence_link(evidence_id: str, links: RepoLinks | None) -> str:
    url = links.own(evidence_id) if links else None
    return f"[{inline(evidence_id.rsplit('/', 1)[-1], 100)}]({url})" if url else span(evidence_id)


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
    state: ProposalState,
    *,
    llm: LLMSettings,
    log: Log,
) -> Response:
    """Revise the candidate on the PR's branch with the trusted comments not answered yet."""
    if not llm.available:
        return Response("none", f"revision skipped: no API key for {llm.model} ({llm.key_var})")
    target_name = state.target
    answered = set(state.answered)
    config = settings.config
    judged, unknown = judged_feedback(
        client, number, config=config, limit=config.limits.max_text_chars, include_bots=False
    )
    for skipped in unknown:
        log(f"revise: {skipped.source}: {skipped.reason}")
    feedback = [item for item in judged if item.trusted and _asks(item)]
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
        cache_dir=workdir.cache_dir(settings.root),
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
        message = f"prompt-trainer: revise {target_name} after review\n\n" + "\n".join(
            f"Answers {i}" for i in ids
        )
        commit = _commit_revision(
            settings, client, proposed, files=dict(changed), message=message, head=head
        )
        if commit is None:
            text = (
                f"`{branch}` moved while this revision was being made (someone pushed to it), "
                "and the new commits touch the prompt files: nothing was overwritten. Comment "
                "`/prompt-trainer revise` again to revise on top of them."
            )
            client.comment_once(number, text, key=f"moved:{','.join(sorted(ids))}")
            log(f"revise: {branch} moved meanwhile; nothing was pushed")
            return Response("none", text)
    files = tuple(PromptFile(path=p, content=t) for p, t in sorted(revision.result.files.items()))
    new_state = revised(
        state,
        fingerprint=proposed.model_copy(update={"files": files}).version,
        commit=commit or head,
        answered=tuple(sorted(answered | set(ids))),
        changes=tuple(
            StateChange(
                path=a.edit.file or proposed.main.path,
                op=a.edit.op,
                text=(a.edit.new_text or a.edit.target_text)[:200],
                evidence=tuple(a.evidence),
            )
            for a in revision.result.applied
        ),
    )
    client.edit_pull_body(number, replace_state(body, new_state))
    links = repo_links(settings.env.github_server_url, client.info().full_name)
    reply = _reply(fresh, revision.replies, commit, revision.result.dropped, links)
    client.comment_once(number, reply, key=f"revised:{','.join(sorted(ids))}")
    return Response("revised" if commit else "none", reply, commit=commit, replies=revision.replies)


def _commit_revision(
    settings: Settings,
    client: GitHubClient,
    proposed: PromptSet,
    *,
    files: dict[str, str | None],
    message: str,
    head: str,
) -> str | None:
    """Commit ``files`` with ``head`` (the head the revision was made from) as parent, by
    compare-and-swap: the ref moves only as a fast-forward of ``head``. When the branch moved
    meanwhile, retry once on the new head if its prompt files are still those revised (the
    push touched other files); None when the revision cannot be applied without overwriting."""
    branch = branch_name(proposed.target)
    commit = client.commit_on_top(branch=branch, files=files, message=message, parent=head)
    if commit is not None:
        return commit
    moved = client.branch_head(branch)
    if moved is None or moved == head:
        return None
    if _proposed(settings, client, proposed.target, moved).version != proposed.version:
        return None
    return client.commit_on_top(branch=branch, files=files, message=message, parent=moved)


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


def _reply(
    fresh: list[Feedback],
    replies: dict[str, str],
    commit: str | None,
    dropped: list[Any],
    links: RepoLinks | None = None,
) -> str:
    """What the revision did for each comment; the model's words and the authors' names are
    escaped (``render.filters``), and only this repository's pages are links."""
    where = f"in {commit[:7]}" if commit else "(no change to the files)"
    lines = [f"Revised after review {where}:"]
    for item in fresh:
        key = item.url or item.id
        url = links.own(item.url) if links else None
        author = inline(item.author, 60)
        link = f"[{author}]({url})" if url else author
        said = inline(replies.get(key, "no change made for this comment"), 1000)
        lines.append(f"- {link}: {said}")
    if dropped:
        lines.append("")
        lines += [
            f"Not applied: {inline(e.op, 40)} {span(e.new_text or e.target_text, 80)}: "
            f"{inline(why, 300)}"
            for e, why in dropped
        ]
    return "\n".join(lines)
