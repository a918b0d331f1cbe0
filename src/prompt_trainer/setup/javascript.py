"""``init`` for JavaScript and TypeScript repositories: which test runner is behind ``npm test``
(``npm run test``, ``yarn test``, ``pnpm test``, ``bun test``...) and how to make it write JUnit
XML where the change belongs.

Takes the repository root, a workflow's ``run:`` line and the step's working directory; reads
the ``package.json`` there (its ``scripts``, the runner among its dependencies, the runner's
config file) and returns a ``JsPlan``: the line rewritten, edits of other files, the report's
path and notes. The runner is found in the script's text (following ``npm run other`` up to a
few levels, through ``cross-env``, ``c8``/``nyc`` and variable assignments). The change:

- **flags through the script** when the runner is the script's last command, so that arguments
  appended by the package manager reach it: ``npm test -- <flags>`` (npm swallows its ``--``;
  pnpm and yarn pass a ``--`` on to the script, which would end the runner's options, so they
  get none). Vitest ``--reporter=default --reporter=github-actions --reporter=junit
  --outputFile.junit=junit.xml`` (naming reporters replaces Vitest's defaults, which include the
  GitHub annotations), Jest ``--reporters=default --reporters=jest-junit`` (``junit.xml``;
  the command prefixed with ``JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true``, without which
  jest-junit leaves a test file that fails to import out of the report, so a PR whose only
  breakage is an import would read green),
  Mocha ``--reporter mocha-junit-reporter --reporter-options mochaFile=junit.xml`` (or, with
  Mocha 12, which that reporter does not support yet, Mocha's own ``xunit`` reporter), node's
  runner ``--test-reporter=spec --test-reporter-destination=stdout --test-reporter=junit
  --test-reporter-destination=junit.xml`` (node creates no folders: the report sits beside
  ``package.json``), ``bun test --reporter=junit --reporter-outfile=junit.xml``;
- **the runner's config** otherwise (``js_config``), for Vitest (``test.reporters`` in
  ``vitest.config.*`` or ``vite.config.*``) and Jest (``reporters`` with ``jest-junit`` in
  ``jest.config.*`` or the ``jest`` key of ``package.json``), only on GitHub Actions where the
  config is code;
- **a script of its own** for Mocha and node's runner when flags cannot be appended
  (``"test:junit"``: the script with the flags), which the workflow then runs.

Every command here was run against the real tools (Vitest 3.2, Jest 30 with jest-junit 17,
Mocha 11 and 12, mocha-junit-reporter 2.2, node 20, bun 1.4; see ``tests/data/js/README.md``).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from prompt_trainer.setup.js_config import REPORT, add_script, config_edit

#: A package manager running a script, as workflows write it.
INVOCATION = re.compile(
    r"(?<![\w./-])(?P<pm>npm|pnpm|yarn|bun)\s+(?P<run>run(?:-script)?\s+)?(?P<script>[\w:.@/-]+)"
)
#: Words after ``yarn``/``pnpm``/``bun`` that are the manager's own commands, not scripts.
MANAGER_COMMANDS = frozenset(
    {"install", "i", "ci", "add", "remove", "exec", "dlx", "x", "create", "init", "audit",
     "outdated", "update", "upgrade", "link", "publish", "pack", "why", "config", "cache",
     "workspace", "workspaces", "set", "dedupe", "rebuild", "prune", "store", "import"}
)  # fmt: skip
#: ``npm <word>`` that runs the script of that name (``npm t`` is ``npm test``).
NPM_SCRIPT_ALIASES = {"test": "test", "t": "test", "tst": "test"}
RUNNERS = ("vitest", "jest", "mocha", "node", "bun")
#: Words that wrap the runner's command in a script: dropped before the runner is named.
WRAPPERS = frozenset({"cross-env", "c8", "nyc", "npx", "dotenv", "env", "time", "tsx"})
MONOREPO_TOOLS = frozenset({"turbo", "nx", "lerna", "wireit", "ultra", "rush"})
#: jest-junit's ``reportTestSuiteErrors`` (default off): a test file that fails to import is
#: written as an error instead of being left out (``tests/data/junit/jest-junit-import-error``).
JEST_SUITE_ERRORS = "JEST_JUNIT_REPORT_TEST_SUITE_ERRORS=true"
#: What ends the simple command before a position in a shell line (or a YAML ``run:`` key).
COMMAND_START = re.compile(r"&&|\|\||;|\||\brun:|^\s*-?")


@dataclass(frozen=True)
class Package:
    """A ``package.json`` and its folder (repository-relative, ``""`` at the root)."""

    folder: str
    data: dict[str, Any]
    text: str

    def script(self, name: str) -> str | None:
        scripts = self.data.get("scripts")
        value = scripts.get(name) if isinstance(scripts, dict) else None
        return value if isinstance(value, str) else None

    def depends_on(self, name: str) -> str | None:
        """The version range of a dependency, or None."""
        for key in ("devDependencies", "dependencies"):
            deps = self.data.get(key)
            if isinstance(deps, dict) and isinstance(deps.get(name), str):
                return str(deps[name])
        return None

    def path(self, name: str) -> str:
        return (PurePosixPath(self.folder) / name).as_posix() if self.folder else name


@dataclass(frozen=True)
class Runner:
    """The runner a script ends in: its name, the script's command that runs it, whether that
    command is the script's last (appended arguments reach it), and the scripts followed."""

    name: str
    command: str
    last: bool
    via: tuple[str, ...]


@dataclass
class JsPlan:
    """What makes one ``run:`` line's tests write JUnit XML."""

    line: str
    report: str
    edits: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_package(root: Path, folder: str) -> Package | None:
    """The ``package.json`` in ``folder``, or None when there is none or it is not JSON."""
    path = root / folder / "package.json"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError):
        return None
    return (
        Package(folder=folder.strip("/"), data=data, text=text) if isinstance(data, dict) else None
    )


def invocation(line: str) -> re.Match[str] | None:
    """The first package-manager command in ``line`` that runs a script (or ``bun test``)."""
    for match in INVOCATION.finditer(line):
        pm, run, script = match.group("pm"), match.group("run"), match.group("script")
        if pm == "npm" and not run and script not in NPM_SCRIPT_ALIASES:
            continue
        if pm != "npm" and not run and script in MANAGER_COMMANDS:
            continue
        return match
    return None


def looks_like_tests(line: str) -> bool:
    """The package script ``line`` runs is named for tests (``test``, ``test:unit``): worth a
    note when its runner is not one prompt-trainer knows."""
    match = invocation(line)
    return match is not None and "test" in script_name(match)


def script_name(match: re.Match[str]) -> str:
    script = match.group("script")
    return NPM_SCRIPT_ALIASES.get(script, script) if match.group("pm") == "npm" else script


def find_runner(package: Package, script: str, *, depth: int = 0) -> Runner | str:
    """The runner behind ``script``, or why there is none that prompt-trainer can tell."""
    text = package.script(script)
    if text is None:
        return f"package.json in {package.folder or 'the root'} has no script {script!r}"
    commands = [c for c in re.split(r"&&|\|\||;|\|", text) if c.strip()]
    for index, command in enumerate(commands):
        words = _words(command)
        name = _runner_name(words)
        last = index == len(commands) - 1
        if name:
            return Runner(name, command.strip(), last, (script,))
        inner = invocation(" ".join(words))
        if inner and depth < 4:
            found = find_runner(package, script_name(inner), depth=depth + 1)
            if isinstance(found, Runner):
                return Runner(found.name, found.command, False, (script, *found.via))
        if words and words[0] in MONOREPO_TOOLS:
            return (
                f"{script!r} runs {words[0]} ({text.strip()[:80]}): make each package's runner "
                "write junit.xml and upload **/junit.xml"
            )
    return f"no test runner prompt-trainer knows in {script!r}: {text.strip()[:80]}"


def _words(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    while words and (re.fullmatch(r"\w+=\S*", words[0]) or words[0] in WRAPPERS):
        # ``dotenv -e .env -- vitest``: the command starts after the ``--``
        skip = words.index("--") + 1 if words[0] == "dotenv" and "--" in words else 1
        words = words[skip:]
    return words


def _runner_name(words: list[str]) -> str | None:
    if not words:
        return None
    head = PurePosixPath(words[0]).name
    if head in ("vitest", "jest", "mocha"):
        return head
    if head == "react-scripts" and words[1:2] == ["test"]:
        return "jest"
    if head == "node" and "--test" in words:
        return "node"
    if head == "bun" and words[1:2] == ["test"]:
        return "bun"
    return None


def plan_line(root: Path, line: str, folder: str) -> JsPlan | str | None:
    """How the ``run:`` line ``line`` (run in ``folder``) comes to write JUnit XML, why not (a
    note), or None when it runs no package script."""
    match = invocation(line)
    if match is None:
        return None
    report = (PurePosixPath(folder) / REPORT).as_posix() if folder.strip("/.") else REPORT
    if match.group("pm") == "bun" and not match.group("run") and match.group("script") == "test":
        flags = f"--reporter=junit --reporter-outfile={REPORT}"
        return JsPlan(line=_append(line, match, flags, separator=False), report=report)
    package = read_package(root, folder.strip("/."))
    if package is None:
        return f"{line.strip()}: no package.json in {folder or 'the repository root'}"
    found = find_runner(package, script_name(match))
    if isinstance(found, str):
        return f"{line.strip()}: {found}; make it write JUnit XML (docs/workflows.md#javascript)"
    plan = JsPlan(line=line, report=report)
    _notes(package, found, match.group("pm"), plan)
    if _appendable(found):
        flags = _flags(found.name, package)
        plan.line = _append(line, match, flags, separator=match.group("pm") == "npm")
        if found.name == "jest":
            plan.line = with_env(plan.line, match.start(), JEST_SUITE_ERRORS)
        return plan
    if found.name in ("vitest", "jest") and _config_edit(root, package, found.name, plan):
        plan.notes.append(f"{_reach(found)}: its config writes {REPORT} on GitHub Actions")
        return plan
    return _own_script(package, found, match, plan)


def _reach(runner: Runner) -> str:
    """Why flags appended to the command would not reach the runner."""
    if len(runner.via) > 1:
        return f"{runner.via[0]!r} runs {runner.name} through {' -> '.join(runner.via[1:])!r}"
    return f"{runner.via[0]!r} runs more after {runner.name}"


def _appendable(runner: Runner) -> bool:
    """Flags appended to the package-manager command reach the runner as options."""
    return runner.last and (runner.name != "node" or _no_paths(runner))


def _no_paths(runner: Runner) -> bool:
    """``node --test`` with nothing after it: appended flags are still options."""
    words = _words(runner.command)
    return runner.last and words[words.index("--test") + 1 :] == []


def _flags(runner: str, package: Package) -> str:
    if runner == "vitest":
        return (
            "--reporter=default --reporter=github-actions --reporter=junit "
            f"--outputFile.junit={REPORT}"
        )
    if runner == "jest":
        return "--reporters=default --reporters=jest-junit"
    if runner == "mocha":
        if _mocha_junit_reporter(package):
            return f"--reporter mocha-junit-reporter --reporter-options mochaFile={REPORT}"
        return f"--reporter xunit --reporter-option output={REPORT}"
    if runner == "node":
        return (
            "--test-reporter=spec --test-reporter-destination=stdout "
            f"--test-reporter=junit --test-reporter-destination={REPORT}"
        )
    return f"--reporter=junit --reporter-outfile={REPORT}"


def _mocha_junit_reporter(package: Package) -> bool:
    """mocha-junit-reporter is installed and Mocha is older than 12 (2.2.1 fails under Mocha
    12: "Class constructor Base cannot be invoked without 'new'", its issue #216)."""
    return bool(package.depends_on("mocha-junit-reporter")) and (_major(package, "mocha") or 0) < 12


def _major(package: Package, name: str) -> int | None:
    found = re.search(r"\d+", package.depends_on(name) or "")
    return int(found.group(0)) if found else None


def _notes(package: Package, runner: Runner, pm: str, plan: JsPlan) -> None:
    add = {"npm": "npm install --save-dev", "yarn": "yarn add --dev", "pnpm": "pnpm add -D",
           "bun": "bun add -d"}[pm]  # fmt: skip
    if runner.name == "jest" and not package.depends_on("jest-junit"):
        plan.notes.append(f"jest writes JUnit XML through jest-junit: {add} jest-junit")
    if runner.name == "mocha" and not _mocha_junit_reporter(package):
        why = (
            "mocha-junit-reporter 2.2 fails under Mocha 12"
            if package.depends_on("mocha-junit-reporter")
            else "mocha-junit-reporter is not installed"
        )
        plan.notes.append(f"{why}: Mocha's own xunit reporter writes the JUnit XML")


def _append(line: str, match: re.Match[str], flags: str, *, separator: bool) -> str:
    """``line`` with ``flags`` at the end of the command ``match`` starts (before ``&&``,
    ``;``, ``|`` or a comment), after a ``--`` for npm unless the command has one."""
    rest = line[match.end() :]
    end = re.search(r"\s*(?:&&|\|\||;|\||\s#)", rest)
    cut = match.end() + (end.start() if end else len(rest.rstrip("\r\n")))
    command = line[match.start() : cut]
    dash = separator and not re.search(r"\s--(\s|$)", command)
    return f"{line[:cut]}{' --' if dash else ''} {flags}{line[cut:]}"


def with_env(line: str, at: int, assignment: str) -> str:
    """``line`` with ``assignment`` (``NAME=value``) before the simple command that holds
    position ``at``, so that the variable reaches that command only (bash, sh)."""
    start = 0
    for found in COMMAND_START.finditer(line[:at]):
        start = found.end()
    start += len(line[start:at]) - len(line[start:at].lstrip())
    return f"{line[:start]}{assignment} {line[start:]}"


def _own_script(package: Package, runner: Runner, match: re.Match[str], plan: JsPlan) -> JsPlan:
    """A ``<script>:junit`` script: the script's text with the runner's flags, run instead."""
    first = runner.via[-1]
    text = package.script(first) or ""
    flags = _flags(runner.name, package)
    if runner.name == "node":
        command = re.sub(r"(?<!\S)--test(?!\S)", f"--test {flags}", runner.command, count=1)
    elif runner.name == "jest":
        command = f"{JEST_SUITE_ERRORS} {runner.command} {flags}"
    else:
        command = f"{runner.command} {flags}"
    name = f"{runner.via[0]}:junit"
    new_text = text.replace(runner.command, command, 1)
    if runner.via[0] != first:
        plan.notes.append(
            f"{runner.via[0]!r} runs {first!r} through another script: {name!r} runs "
            f"{first!r}'s command with the flags"
        )
    edited = add_script(package.text, runner.via[0], name, new_text)
    if edited is None:
        plan.notes.append(
            f"add a script {name!r}: {json.dumps(new_text)} to {package.path('package.json')}"
        )
    else:
        plan.edits[package.path("package.json")] = (package.text, edited)
    run = "" if match.group("run") or match.group("pm") in ("yarn", "pnpm") else "run "
    plan.line = plan.line[: match.start("script")] + run + name + plan.line[match.end("script") :]
    return plan


def _config_edit(root: Path, package: Package, runner: str, plan: JsPlan) -> bool:
    """The runner's config made to write JUnit XML on GitHub Actions (``js_config``); False
    when there is no config it can edit (then the runner gets a script of its own)."""
    found = config_edit(root / package.folder, package.text, package.data, runner)
    if found is None:
        return False
    if found.new is not None:
        plan.edits[package.path(found.name)] = (found.old, found.new)
    plan.notes += [found.note] if found.note else []
    return True


def junit_command(root: Path, folder: str = "") -> str | None:
    """The command that runs the package's tests writing JUnit XML to
    ``$PROMPT_TRAINER_JUNIT`` (``replay.test_command``), or None when ``package.json`` has no
    test script with a runner prompt-trainer knows."""
    package = read_package(root, folder)
    if package is None:
        return None
    pm = manager(root, package)
    found = find_runner(package, "test")
    if isinstance(found, str) or not found.last:
        return None
    out = '"$PROMPT_TRAINER_JUNIT"'
    flags = {
        "vitest": f"--reporter=default --reporter=junit --outputFile.junit={out}",
        "jest": "--reporters=default --reporters=jest-junit",
        "mocha": f"--reporter xunit --reporter-option output={out}",
        "node": f"--test-reporter=spec --test-reporter-destination=stdout "
        f"--test-reporter=junit --test-reporter-destination={out}",
        "bun": f"--reporter=junit --reporter-outfile={out}",
    }[found.name]
    if found.name == "mocha" and _mocha_junit_reporter(package):
        flags = f"--reporter mocha-junit-reporter --reporter-options mochaFile={out}"
    if found.name == "node" and not _no_paths(found):
        return None
    prefix = f"{JEST_SUITE_ERRORS} JEST_JUNIT_OUTPUT_FILE={out} " if found.name == "jest" else ""
    dash = " --" if pm == "npm" else ""
    return f"{prefix}{pm} test{dash} {flags}"


def manager(root: Path, package: Package) -> str:
    """The package manager the repository uses: ``packageManager``, else its lockfile."""
    declared = str(package.data.get("packageManager") or "").split("@", 1)[0]
    if declared in ("npm", "yarn", "pnpm", "bun"):
        return declared
    for lockfile, name in (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("bun.lock", "bun"),
                           ("bun.lockb", "bun")):  # fmt: skip
        if (root / package.folder / lockfile).is_file():
            return name
    return "npm"
