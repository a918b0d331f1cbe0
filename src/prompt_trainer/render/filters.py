"""The Jinja2 environment and the filters every template uses for outside text.

Text written by others (test messages, review comments, model output) goes through ``quote`` or
``inline``, which neutralize @mentions and code fences; ``code`` is for text inside a fenced
block. A user's template runs in Jinja2's sandbox.
"""

from __future__ import annotations

import jinja2
import jinja2.sandbox


def neutralize(text: str) -> str:
    """Stop @mentions from notifying and fences from breaking out of quotes."""
    return text.replace("@", "@\u200b").replace("```", "`\u200b``")


def code(text: str) -> str:
    """Text for inside a fenced block: only a fence could break out (mentions do not ping)."""
    return text.replace("```", "`\u200b``")


def quote(text: str) -> str:
    """Render outside text as a markdown blockquote."""
    return "\n".join(f"> {line}" for line in neutralize(text).splitlines() or [""])


def inline(text: str, limit: int = 200) -> str:
    """A single line of outside text, capped, for tables and bullets."""
    line = " ".join(neutralize(text).split())
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return line.replace("|", "\\|")


def environment(*, sandboxed: bool = False) -> jinja2.Environment:
    """The template environment; ``sandboxed`` for a user's template, which may not reach
    Python internals (``jinja2.sandbox``)."""
    kind = jinja2.sandbox.SandboxedEnvironment if sandboxed else jinja2.Environment
    env = kind(
        loader=jinja2.PackageLoader("prompt_trainer.render", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(quote=quote, inline=inline, neutralize=neutralize, code=code)
    return env
