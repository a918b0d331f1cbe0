"""``init``'s edits of JavaScript files: a ``package.json`` script added beside another, and the
JUnit reporter added to Vitest's or Jest's configuration.

Takes a package folder, its ``package.json`` (text and data) and the runner; returns a
``ConfigEdit`` (the file, its text before and after, a note), or None when there is no config
this can edit. Edits are line insertions, so the rest of each file stays as written, in its own
indentation and quotes; a config that names its reporters already gets a note instead (merging
them is the user's call). The reporters are switched on only where ``GITHUB_ACTIONS`` is set, so
local runs stay as they are; ``package.json``'s ``jest`` key cannot test that, and says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT = "junit.xml"
VITEST_CONFIGS = tuple(
    f"{stem}.config.{ext}"
    for stem in ("vitest", "vite")
    for ext in ("ts", "mts", "cts", "js", "mjs", "cjs")
)
JEST_CONFIGS = tuple(f"jest.config.{ext}" for ext in ("js", "ts", "mjs", "cjs", "json"))


@dataclass(frozen=True)
class ConfigEdit:
    """One file's edit (``new`` None: a note only), relative to the package folder."""

    name: str
    old: str
    new: str | None
    note: str = ""


def add_script(text: str, after: str, name: str, command: str) -> str | None:
    """``package.json`` text with ``"name": command`` on the line after script ``after``."""
    lines = text.splitlines(keepends=True)
    wanted = re.compile(rf'^(\s*){re.escape(json.dumps(after))}\s*:\s*".*",?\s*$')
    for n, line in enumerate(lines):
        found = wanted.match(line)
        if found is None:
            continue
        if not line.rstrip().endswith(","):
            lines[n] = line.rstrip("\r\n") + ",\n"
            comma = ""
        else:
            comma = ","
        lines.insert(n + 1, f"{found.group(1)}{json.dumps(name)}: {json.dumps(command)}{comma}\n")
        return "".join(lines)
    return None


def config_edit(
    folder: Path, package_text: str, package_data: dict[str, Any], runner: str
) -> ConfigEdit | None:
    """The runner's config (``vitest.config.*``, ``vite.config.*``, ``jest.config.*``, the
    ``jest`` key) with the JUnit reporter, or None when there is none this can edit."""
    configs, insert = (VITEST_CONFIGS, _vitest_lines) if runner == "vitest" else (
        JEST_CONFIGS, _jest_lines)  # fmt: skip
    for name in configs:
        path = folder / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\breporters\b", text):
            return ConfigEdit(
                name, text, None, f"{name} names its reporters: {ADD_REPORTER[runner]}"
            )
        edited = insert(text, json_file=name.endswith(".json"))
        if edited is not None:
            return ConfigEdit(name, text, edited)
    if runner == "jest" and isinstance(package_data.get("jest"), dict):
        edited = _insert_after(package_text, r'^(\s*)"jest"\s*:\s*\{\s*$', [JEST_JSON])
        if edited is not None:
            note = f"package.json's jest key cannot test for CI: add {REPORT} to .gitignore"
            return ConfigEdit("package.json", package_text, edited, note)
    return None


JEST_JSON = (
    '"reporters": ["default", ["jest-junit", {"outputName": "junit.xml", '
    '"addFileAttribute": "true", "classNameTemplate": "{filepath}", '
    '"reportTestSuiteErrors": "true"}]],'
)
ADD_REPORTER = {
    "vitest": "add 'junit' to them, and outputFile: { junit: 'junit.xml' }",
    "jest": (
        "add ['jest-junit', { outputName: 'junit.xml', reportTestSuiteErrors: 'true' }] to them"
    ),
}
#: The line that opens a Jest config object in a JavaScript or TypeScript file.
JEST_OBJECT = (
    r"^(.*)(?:module\.exports\s*=|export\s+default|const\s+\w+(?:\s*:\s*\w+)?\s*="
    r"|defineConfig\()\s*\{\s*$"
)


def _quote(text: str) -> str:
    return '"' if text.count('"') > text.count("'") else "'"


def _vitest_lines(text: str, *, json_file: bool) -> str | None:
    q = _quote(text)
    lines = [
        f"reporters: process.env.GITHUB_ACTIONS ? [{q}default{q}, {q}github-actions{q}, "
        f"{q}junit{q}] : [{q}default{q}],",
        f"outputFile: {{ junit: {q}{REPORT}{q} }},",
    ]
    edited = _insert_after(text, r"^(\s*)test\s*:\s*\{\s*$", lines)
    if edited is None:
        block = ["test: {", *(f"  {ln}" for ln in lines), "},"]
        edited = _insert_after(text, r"^(.*)defineConfig\(\s*\{\s*$", block)
    return edited


def _jest_lines(text: str, *, json_file: bool) -> str | None:
    if json_file:
        return _insert_after(text, r"^(\s*)\{\s*$", [JEST_JSON])
    q = _quote(text)
    line = (
        f"reporters: process.env.GITHUB_ACTIONS ? [{q}default{q}, [{q}jest-junit{q}, "
        f"{{ outputName: {q}{REPORT}{q}, addFileAttribute: {q}true{q}, "
        f"classNameTemplate: {q}{{filepath}}{q}, reportTestSuiteErrors: {q}true{q} }}]] : "
        f"[{q}default{q}],"
    )
    return _insert_after(text, JEST_OBJECT, [line])


def _insert_after(text: str, pattern: str, new: list[str]) -> str | None:
    """``text`` with ``new`` after the one line matching ``pattern``, indented like the line
    that follows it (or two spaces deeper than the matched line)."""
    lines = text.splitlines(keepends=True)
    found = [n for n, ln in enumerate(lines) if re.match(pattern, ln.rstrip("\r\n"))]
    if len(found) != 1:
        return None
    at = found[0]
    following = next((ln for ln in lines[at + 1 :] if ln.strip()), "")
    base = len(lines[at]) - len(lines[at].lstrip())
    indent = following[: len(following) - len(following.lstrip())]
    if len(indent) <= base:
        indent = " " * (base + 2)
    lines[at + 1 : at + 1] = [f"{indent}{ln}\n" for ln in new]
    return "".join(lines)
