"""The Jinja2 environment and the filters every template uses for outside text.

Text written by others (test messages, review comments, model output) goes through ``quote`` or
``inline``; both ``neutralize`` it: @mentions do not notify, code fences (```` ``` ````, ``~~~``)
cannot open or close a block, and nothing can open an HTML tag or comment (``<!--``,
``<details>``, ``</details>`` become ``&lt;…``; ``-->`` becomes ``--&gt;``), so outside text can
neither hide the rest of a body nor fake a part of it, such as the bot's state block. ``inline``
also escapes backticks and table pipes. ``span`` renders outside text as an inline code span
that it cannot end (its delimiter is longer than any backtick run inside); ``code`` is for text
inside a fenced block. A user's template runs in Jinja2's sandbox.

That escaping is for GitHub, which renders the text as HTML. Output read in a terminal or a
file (``prompt-trainer report`` on stdout or ``--output``) uses ``environment(github=False)``:
the same filters without the HTML escapes and zero-width spaces (``<n>`` stays ``<n>``, not
``&lt;n>``), stripped of terminal control characters instead (an escape sequence in a test
message could otherwise rewrite the terminal).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import jinja2
import jinja2.sandbox

#: ``<`` that would start a tag, a closing tag, a comment or a processing instruction.
TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
BACKTICKS = re.compile(r"`+")


def neutralize(text: str) -> str:
    """Stop @mentions from notifying, fences from breaking out of quotes, and HTML tags and
    comments from opening or closing (which could hide or fake the rest of the body)."""
    text = text.replace("@", "@\u200b").replace("```", "`\u200b``").replace("~~~", "~\u200b~~")
    return TAG_START.sub("&lt;", text).replace("-->", "--&gt;")


def code(text: str) -> str:
    """Text for inside a fenced block: only a fence could break out (mentions do not ping)."""
    return text.replace("```", "`\u200b``")


#: Terminal control characters (escape sequences start with ESC or CSI); tabs and newlines stay.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


def plain(text: str) -> str:
    """Outside text for a terminal or a file: control characters removed, nothing escaped."""
    return CONTROL.sub("", text)


def quote(text: str, *, clean: Callable[[str], str] = neutralize) -> str:
    """Render outside text as a markdown blockquote."""
    return "\n".join(f"> {line}" for line in clean(text).splitlines() or [""])


def _line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def inline(text: str, limit: int = 200, *, clean: Callable[[str], str] = neutralize) -> str:
    """A single line of outside text, capped, for tables and bullets."""
    line = _line(clean(text), limit)
    return line.replace("`", "\\`").replace("|", "\\|")


def span(text: str, limit: int = 200) -> str:
    """A single line of outside text as an inline code span (ids, paths, test names): its
    backtick delimiter is one longer than the longest run inside, so the text cannot end it.
    Comment delimiters get a zero-width space, so the raw body holds no marker but the bot's."""
    line = _line(text, limit).replace("<!--", "<\u200b!--").replace("-->", "-\u200b->")
    line = line.replace("|", "\\|") or " "
    fence = "`" * (max((len(m) for m in BACKTICKS.findall(line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


def environment(*, sandboxed: bool = False, github: bool = True) -> jinja2.Environment:
    """The template environment; ``sandboxed`` for a user's template, which may not reach
    Python internals (``jinja2.sandbox``); ``github=False`` for text read in a terminal or a
    file, not rendered by GitHub."""
    kind = jinja2.sandbox.SandboxedEnvironment if sandboxed else jinja2.Environment
    env = kind(
        loader=jinja2.PackageLoader("prompt_trainer.render", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    if github:
        env.filters.update(quote=quote, inline=inline, neutralize=neutralize, code=code, span=span)
    else:
        env.filters.update(
            quote=partial(quote, clean=plain),
            inline=partial(inline, clean=plain),
            neutralize=plain,
            code=plain,
            span=lambda text, limit=200: span(plain(text), limit),
        )
    return env
