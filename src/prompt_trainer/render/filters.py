"""The Jinja2 environment and the one escaping function for text the project did not write.

``neutralize`` is the one escaping function: every template filter for outside or model text
(``quote``, ``inline``, ``span``, ``code``) and every comment body built outside a template
(``loop.respond``) goes through it. In Markdown it makes text inert: @mentions do not notify (a
zero-width space after ``@``), links, images, reference definitions and task-list boxes cannot
form (``[``, ``]`` and ``\\`` are backslash-escaped), bare URLs are not autolinked (a zero-width
space before ``://`` and after ``www``), code fences (```` ``` ````, ``~~~``) cannot open or close
a block, nothing can open an HTML tag or comment (``<img``, ``<!--``, ``</details>`` become
``&lt;…``; ``-->`` becomes ``--&gt;``), entities cannot smuggle any of these (``&#64;`` becomes
``&amp;#64;``), and bidi controls (U+202A-U+202E, U+2066-U+2069), which can make text read
differently from what it is, are shown as ``[U+202E]``. With ``literal=True`` (inside a code
span or fenced block, where Markdown is not parsed) only bidi controls, fences and comment
markers are changed. So outside text can neither hide the rest of a body, fake a part of it
(the bot's state block, a dashboard checkbox), link anywhere, nor ping anyone. The only links in
what the bot writes are those it builds itself (``render.links``).

``inline`` also escapes backticks and table pipes for one capped line; ``span`` renders text as
an inline code span that it cannot end (its delimiter is longer than any backtick run inside);
``code`` is for text inside a fenced block. A user's template runs in Jinja2's sandbox.
"""

from __future__ import annotations

import re

import jinja2
import jinja2.sandbox

#: ``<`` that would start a tag, a closing tag, a comment or a processing instruction.
TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
#: ``&`` that starts a character reference (``&#64;``, ``&#x40;``, ``&commat;``).
ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]{1,32};)")
#: Where GitHub would autolink: a scheme before ``://``, or ``www.``.
AUTOLINK = re.compile(r"(?i)\b(?:https?|ftp)(?=://)|\bwww(?=\.)")
BACKTICKS = re.compile(r"`+")
#: Bidirectional embedding, override and isolate controls, shown by their code point.
BIDI = str.maketrans({c: f"[U+{c:04X}]" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
#: Markdown that links, embeds or pings, backslash-escaped (``@`` gets a zero-width space).
MARKUP = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]", "@": "@\u200b"})


def neutralize(text: str, *, literal: bool = False) -> str:
    """The one escaping function for text the project did not write (see the module
    docstring); ``literal`` for text inside a code span or a fenced block."""
    text = text.translate(BIDI).replace("```", "`\u200b``")
    if literal:
        return text.replace("<!--", "<\u200b!--").replace("-->", "-\u200b->")
    text = ENTITY.sub("&amp;", text).translate(MARKUP).replace("~~~", "~\u200b~~")
    text = AUTOLINK.sub("\\g<0>\u200b", text)
    return TAG_START.sub("&lt;", text).replace("-->", "--&gt;")


def code(text: str) -> str:
    """Text for inside a fenced block: only a fence could break out (mentions do not ping)."""
    return neutralize(text, literal=True)


def quote(text: str) -> str:
    """Render outside text as a markdown blockquote."""
    return "\n".join(f"> {line}" for line in neutralize(text).splitlines() or [""])


def _line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def inline(text: str, limit: int = 200) -> str:
    """A single line of outside text, capped, for tables and bullets."""
    line = neutralize(_line(text, limit))  # cut first: a cut never splits an escape
    return line.replace("`", "\\`").replace("|", "\\|")


def span(text: str, limit: int = 200) -> str:
    """A single line of outside text as an inline code span (ids, paths, test names): its
    backtick delimiter is one longer than the longest run inside, so the text cannot end it.
    Comment delimiters get a zero-width space, so the raw body holds no marker but the bot's."""
    line = neutralize(_line(text, limit), literal=True).replace("|", "\\|") or " "
    fence = "`" * (max((len(m) for m in BACKTICKS.findall(line)), default=0) + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"


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
    env.filters.update(quote=quote, inline=inline, neutralize=neutralize, code=code, span=span)
    return env
