"""The review loop's revision of the bot's PR, and what the loop shares: the command grammar
(``parse_command``), its ``Response`` and where its writes go (``Writes``).

A revision reads every trusted comment not answered yet (suggestion blocks included), asks the
model for itemized edits that each cite the comment they answer (``plan_revision``), checks the
result with the guardrails a trained candidate passes (``evaluate.check_candidate`` against the
default branch's prompts), and then (``apply_revision``) pushes one new commit on top of the
branch (never a force-push), records the answered comments in the state block and replies with
what changed for each comment. A revision that fails the guardrails is not pushed, and the reply
says why. In the Action's ``prepare`` job the planned revision is a ``RevisionIntent`` in the
bundle, and the ``publish`` job applies it (``loop.publish``), so the model call and the push
never share a job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from prompt_trainer import workdir
from prompt_trainer.collect.github_pr import judged_feedback
from prompt_trainer.errors import ConfigError
from prompt_trainer.evaluate import check_candidate
from prompt_trainer.github import GitHubClient
from prompt_trainer.loop.bundle import Answer, NotApplied, Recorder, RevisionIntent
from prompt_trainer.models import Candidate, Feedback, PromptFile, PromptSet, TokenUsage
from prompt_trainer.propose import branch_name
from prompt_trainer.render.filters import inline, span
from prompt_trainer.render.links import RepoLinks, repo_links
from prompt_trainer.render.state import ProposalState, StateChange, replace_state, revised
from prompt_trainer.settings import LLMSettings, Settings
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


@dataclass(frozen=True)
class Writes:
    """Where the review loop's writes go: to GitHub, or (a ``prepare`` run) to the recorder."""

    client: GitHubClient
    recorder: Recorder | None = None

    def comment(self, number: int, body: str, *, key: str) -> None:
        if self.recorder is not None:
            self.recorder.comment(number, body, key=key)
        else:
            self.client.comment_once(number, body, key=key)

    def close(self, number: int) -> None:
        if self.recorder is not None:
            self.recorder.closes.append(number)
        else:
            self.client.close_pull(number)


def proposed_at(settings: Settings, client: GitHubClient, target_name: str, head: str) -> PromptSet:
    """The target's prompt files at ``head`` (the bot's branch), read through the API."""
    target = settings.target(target_name)

    class AtHead:
        def read_text(self, path: str) -> str | None:
            return client.read_text(path, ref=head)

        def list_files(self, directory: str) -> list[str]:
            return client.list_files(directory, ref=head)

    return load_prompt_set(target, AtHead())


def revise_pull(
    settings: Settings,
    say: Writes,
    number: int,
    body: str,
    state: ProposalState,
    *,
    llm: LLMSettings,
    log: Log,
) -> Response:
    """Revise the candidate on the PR's branch with the trusted comments not answered yet:
    ``plan_revision``, then ``apply_revision`` (or, in a ``prepare`` run, bundle it)."""
    planned = plan_revision(settings, say, number, body, state, llm=llm, log=log)
    if isinstance(planned, Response):
        return planned
    if say.recorder is not None:
        say.recorder.revision = planned
        return Response("revised", "revision bundled for the publish job")
    return apply_revision(settings, say.client, planned, log=log)


def plan_revision(
    settings: Settings,
    say: Writes,
    number: int,
    body: str,
    state: ProposalState,
    *,
    llm: LLMSettings,
    log: Log,
) -> RevisionIntent | Response:
    """The revision the trusted comments not answered yet ask for (one model call), checked by
    the guardrails; a ``Response`` when there is nothing to push (no key, no new comment, or
    the guardrails refused it: then the reply says why)."""
    if not llm.available:
        return Response("none", f"revision skipped: no API key for {llm.model} ({llm.key_var})")
    client = say.client
    answered = set(state.answered)
    fresh = _fresh_feedback(settings, client, number, answered, log=log)
    if not fresh:
        return Response("none", "no new review feedback to act on")
    target_name = state.target
    branch = branch_name(target_name)
    head = client.branch_head(branch)
    if head is None:
        raise ConfigError(f"the branch {branch} of #{number} is gone", fix="close the PR")
    proposed = proposed_at(settings, client, target_name, head)
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
    for problem in revision.unreadable:
        log(f"revise: #{number}: left out of the answer: {problem}")
    refused = revision_problems(settings, client, target_name, revision.result.files)
    if refused:
        reply = _refused_reply(refused)
        say.comment(number, reply, key=f"refused:{','.join(sorted(ids))}")
        return Response("none", reply, replies=revision.replies)
    changed = {
        path: text
        for path, text in revision.result.files.items()
        if text != next((f.content for f in proposed.files if f.path == path), None)
    }
    files = tuple(PromptFile(path=p, content=t) for p, t in sorted(revision.result.files.items()))
    new_state = revised(
        state,
        fingerprint=proposed.model_copy(update={"files": files}).version,
        commit=head,
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
    return RevisionIntent(
        number=number,
        target=target_name,
        head=head,
        files=changed,
        message=f"prompt-trainer: revise {target_name} after review\n\n"
        + "\n".join(f"Answers {i}" for i in ids),
        state=new_state,
        body=body,
        answered=tuple(ids),
        answers=tuple(
            Answer(
                author=item.author,
                url=item.url,
                reply=revision.replies.get(item.url or item.id, "")[:4_000],
            )
            for item in fresh
        ),
        not_applied=tuple(
            NotApplied(op=e.op, text=(e.new_text or e.target_text)[:4_000], why=str(why)[:2_000])
            for e, why in revision.result.dropped
        ),
    )


def _fresh_feedback(
    settings: Settings, client: GitHubClient, number: int, answered: set[str], *, log: Log
) -> list[Feedback]:
    """The trusted comments on the PR that ask for something and are not answered yet."""
    config = settings.config
    judged, unknown = judged_feedback(
        client, number, config=config, limit=config.limits.max_text_chars, include_bots=False
    )
    for skipped in unknown:
        log(f"revise: {skipped.source}: {skipped.reason}")
    feedback = [item for item in judged if item.trusted and _asks(item)]
    return [f for f in feedback if (f.url or f.id) not in answered]


def apply_revision(
    settings: Settings, client: GitHubClient, intent: RevisionIntent, *, log: Log
) -> Response:
    """Push a planned revision: one commit on top of the head it was made from (when files
    changed), the state block replaced, and one reply; when the branch moved meanwhile and the
    prompt files with it, nothing is overwritten and the reply says so."""
    commit = None
    branch = branch_name(intent.target)
    keys = ",".join(sorted(intent.answered))
    if intent.files:
        proposed = proposed_at(settings, client, intent.target, intent.head)
        commit = _commit_revision(
            settings, client, proposed, files=dict(intent.files), message=intent.message,
            head=intent.head,
        )  # fmt: skip
        if commit is None:
            text = (
                f"`{branch}` moved while this revision was being made (someone pushed to it), "
                "and the new commits touch the prompt files: nothing was overwritten. Comment "
                "`/prompt-trainer revise` again to revise on top of them."
            )
            client.comment_once(intent.number, text, key=f"moved:{keys}")
            log(f"revise: {branch} moved meanwhile; nothing was pushed")
            return Response("none", text)
    state = intent.state.model_copy(update={"commit": commit or intent.head})
    client.edit_pull_body(intent.number, replace_state(intent.body, state))
    links = repo_links(settings.env.github_server_url, client.info().full_name)
    reply = _reply(intent.answers, commit, intent.not_applied, links)
    client.comment_once(intent.number, reply, key=f"revised:{keys}")
    replies = {a.url or a.author: a.reply for a in intent.answers}
    return Response("revised" if commit else "none", reply, commit=commit, replies=replies)


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
    if proposed_at(settings, client, proposed.target, moved).version != proposed.version:
        return None
    return client.commit_on_top(branch=branch, files=files, message=message, parent=moved)


def revision_problems(
    settings: Settings, client: GitHubClient, target_name: str, files: dict[str, str]
) -> tuple[str, ...]:
    """The guardrails training runs (``evaluate.check_candidate``: secrets, keep-lines, size and
    growth, subagent names and paths), on the revised files against the default branch's
    prompts. The revision model read only trusted comments, so there is no outside text to
    compare for copies."""
    target = settings.target(target_name)
    base = proposed_at(settings, client, target_name, client.info().default_branch)
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
    answers: tuple[Answer, ...],
    commit: str | None,
    not_applied: tuple[NotApplied, ...],
    links: RepoLinks | None = None,
) -> str:
    """What the revision did for each comment; the model's words and the authors' names are
    escaped (``render.filters``), and only this repository's pages are links."""
    where = f"in {commit[:7]}" if commit else "(no change to the files)"
    lines = [f"Revised after review {where}:"]
    for answer in answers:
        url = links.own(answer.url) if links else None
        author = inline(answer.author, 60)
        link = f"[{author}]({url})" if url else author
        said = inline(answer.reply or "no change made for this comment", 1000)
        lines.append(f"- {link}: {said}")
    if not_applied:
        lines.append("")
        lines += [
            f"Not applied: {inline(e.op, 40)} {span(e.text, 80)}: {inline(e.why, 300)}"
            for e in not_applied
        ]
    return "\n".join(lines)
