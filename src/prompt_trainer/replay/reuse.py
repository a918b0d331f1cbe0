"""Replay's head start in a fresh worktree: the checkout's installed ``node_modules``, when the
worktree would install the same thing.

Takes the checkout and the worktree; links each ``node_modules`` folder of the checkout (at the
root and beside every tracked ``package.json``) into the worktree when every lockfile of those
folders (``package-lock.json``, ``npm-shrinkwrap.json``, ``yarn.lock``, ``pnpm-lock.yaml``,
``bun.lock``, ``bun.lockb``) is the checkout's byte for byte, and at least one exists. Returns
the folders linked (for ``$PROMPT_TRAINER_REUSED``) or why none was.

Files are hard-linked (copied when the worktree is on another file system); folders are made
new, symbolic links (pnpm's layout) are copied as links. Tool caches directly inside
``node_modules`` (``.cache``, ``.vite``, ``.vitest``) are left out, since tools write them during
a run. A hard link shares the file with the checkout: a command that edits a file inside
``node_modules`` in place (rather than replacing it) edits the checkout's copy too, which is why
``replay.reuse_node_modules`` can be turned off. npm, pnpm and yarn replace files when they
install, so an install in the worktree leaves the checkout alone.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prompt_trainer.targets import git

LOCKFILES = (
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "bun.lockb",
)
#: Folders directly inside node_modules that tools write while they run.
CACHES = frozenset({".cache", ".vite", ".vitest"})


def reuse_node_modules(checkout: Path, tree: Path) -> tuple[list[str], str]:
    """Link the checkout's ``node_modules`` folders into the worktree ``tree``; the folders
    linked (repository-relative) and, when none was, why."""
    folders = package_folders(tree)
    installed = [f for f in folders if (checkout / f / "node_modules").is_dir()]
    if not installed:
        return [], "the checkout has no node_modules"
    changed = _changed_lockfiles(checkout, tree, folders)
    if changed is None:
        return [], "no lockfile to compare"
    if changed:
        return [], f"the lockfile differs from the checkout's ({', '.join(changed)})"
    linked = []
    for folder in installed:
        target = tree / folder / "node_modules"
        if not target.exists():
            link_tree(checkout / folder / "node_modules", target)
            linked.append((Path(folder) / "node_modules").as_posix())
    return linked, ""


def package_folders(tree: Path) -> list[str]:
    """The root and every folder of a tracked ``package.json`` (repository-relative)."""
    out = git(tree, "ls-files", "-z", "--", "package.json", "*/package.json") or ""
    folders = {Path(p).parent.as_posix() for p in out.split("\0") if p}
    return sorted(folders | {"."})


def _changed_lockfiles(checkout: Path, tree: Path, folders: list[str]) -> list[str] | None:
    """The lockfiles that differ between checkout and worktree; None when there is none."""
    seen, changed = 0, []
    for folder in folders:
        for name in LOCKFILES:
            mine, theirs = checkout / folder / name, tree / folder / name
            if not mine.is_file() and not theirs.is_file():
                continue
            seen += 1
            if not (mine.is_file() and theirs.is_file()) or not _same(mine, theirs):
                changed.append((Path(folder) / name).as_posix())
    return changed if seen else None


def _same(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def link_tree(source: Path, target: Path) -> None:
    """``target`` as a copy of ``source`` made of hard links (copies across file systems)."""
    for folder, dirs, files in os.walk(source, followlinks=False):
        here = Path(folder)
        out = target / here.relative_to(source)
        out.mkdir(parents=True, exist_ok=True)
        if here == source:
            dirs[:] = [d for d in dirs if d not in CACHES]
        for name in [*dirs, *files]:
            src = here / name
            if src.is_symlink():
                os.symlink(os.readlink(src), out / name)
                dirs[:] = [d for d in dirs if d != name]
            elif name in files:
                _link(src, out / name)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
