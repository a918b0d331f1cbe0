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
admin, asked of the collaborator-permission API; never bots); a command from anyone else changes
nothing, and the pull request gets one short notice however many such commands arrive. A
revision (``loop.revision``) answers the trusted comments not answered yet with one new commit on
top of the branch, checked by the guardrails first. Replies are posted once per comment set, so a
rerun does not repeat them. In the Action's ``prepare`` job every write is recorded for the
``publish`` job instead (``Writes``, ``loop.bundle``).
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_trainer.collect.github_pr import collect_pull, is_agent_pull
from prompt_trainer.github import GitHubClient
from prompt_trainer.loop.bundle import Recorder
from prompt_trainer.loop.events import ReviewEvent
from prompt_trainer.loop.failures import parse_report, record
from prompt_trainer.loop.revision import Response, Writes, parse_command, revise_pull
from prompt_trainer.propose import branch_name, own_target
from prompt_trainer.render.filters import inline, span
from prompt_trainer.render.links import RepoLinks, repo_links
from prompt_trainer.render.state import (
    ProposalState,
    read_state,
)
from prompt_trainer.settings import LLMSettings, Settings
from prompt_trainer.store import find_sample, open_ledger, sync_store

Log = Callable[[str], None]


def respond(
    settings: Settings,
    client: GitHubClient,
    event: ReviewEvent,
    *,
    llm: LLMSettings,
    log: Log,
    recorder: Recorder | None = None,
) -> Response:
    """Handle one review event: a failure report on any agent PR, the rest on the bot's PRs.
    In the Action's ``prepare`` job every write goes to ``recorder`` instead (``loop.bundle``):
    the ``publish`` job makes it (``apply_revision`` for a revision)."""
    say = Writes(client, recorder)
    command = parse_command(event.body)
    if command and command[0] == "report":
        if not may_command(client, event, log=log):
            return _untrusted(say, event, command)
        return report_command(settings, say, event, command[1], log=log)
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
        return _untrusted(say, event, command)
    if command and command[0] == "close":
        say.comment(event.number, "Closing as requested.", key=f"close:{event.comment_id}")
        say.close(event.number)
        return Response("closed", f"#{event.number} closed on request")
    if command and command[0] == "explain":
        where = command[1].split()[0] if command[1].split() else ""
        links = repo_links(settings.env.github_server_url, client.info().full_name)
        answer = explain(state, where, client=client, number=event.number, links=links)
        say.comment(event.number, answer, key=f"explain:{event.comment_id}")
        return Response("explained", answer)
    if event.name == "pull_request_review_comment":
        return Response("none", "review comment kept as feedback for the next revision")
    if event.name == "pull_request_review" and event.review_state == "approved":
        return Response("none", "approved: nothing to revise")
    return revise_pull(settings, say, event.number, body, state, llm=llm, log=log)


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


#: The one notice a pull request gets about commands from people without write access.
UNTRUSTED_NOTICE = (
    "Only maintainers (people with write access to this repository) can run prompt-trainer "
    "commands; commands from anyone else on this pull request are ignored."
)


def _untrusted(say: Writes, event: ReviewEvent, command: tuple[str, str] | None) -> Response:
    """A command from someone who may not run it: one notice per pull request, whoever sends
    how many (it mentions nobody, so eight outsider commands do not make eight pings); reviews
    are just ignored."""
    if command:
        say.comment(event.number, UNTRUSTED_NOTICE, key="untrusted")
    return Response("ignored", f"{event.author} has no write access: not trusted")


def report_command(
    settings: Settings, say: Writes, event: ReviewEvent, argument: str, *, log: Log
) -> Response:
    """``/prompt-trainer report <type>: <description>`` on an agent PR: record the failure on
    the PR's sample (collecting the PR first when it is not stored yet), write the data branch
    (a ``prepare`` run bundles the sample for it), and acknowledge once."""
    client = say.client
    lines = event.body.strip().splitlines()
    parsed = parse_report(argument, "\n".join(lines[1:]))
    key = f"report:{event.comment_id}"
    if isinstance(parsed, str):
        say.comment(event.number, f"@{event.author}: {parsed}", key=key)
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
            say.comment(event.number, text, key=key)
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
    if say.recorder is not None:
        say.recorder.keep((s for s in store.load() if s.id == sample.id), store=True)
    else:
        sync_store(store, client, settings.config.store.branch, push=True, log=log)
    versions = ", ".join(f"{t} `{v[:12]}`" for t, v in sorted(sample.prompt_versions.items()))
    text = (
        f"Recorded a `{failure.type}` report on #{event.number} ({failure.id}), attributed to "
        f"the prompt version(s) it ran on: {versions or 'unknown'}. It is evidence for the next "
        "training run and shows in `prompt-trainer report`."
    )
    say.comment(event.number, text, key=key)
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
