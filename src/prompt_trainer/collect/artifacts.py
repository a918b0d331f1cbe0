"""Safe extraction of downloaded artifact zips.

Every member is checked before a byte is written: no absolute paths, no ``..`` components, no
symbolic links, and caps on the number of files, the total uncompressed size (counted while
writing, not trusted from the header) and the compression ratio. A member that breaks a rule is
reported as ``Skipped`` and the rest of the archive is still extracted; an archive that breaks a
global cap stops there, keeping what was extracted before.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from prompt_trainer.models import Skipped

MAX_RATIO = 200
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    """Caps applied to one archive."""

    max_total_bytes: int
    max_files: int
    max_ratio: int = MAX_RATIO


@dataclass
class Extraction:
    """What came out of an archive: files written, and members refused with reasons."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def extract_zip(archive: Path, dest: Path, *, limits: ZipLimits, label: str) -> Extraction:
    """Extract ``archive`` under ``dest`` following the safety rules above."""
    result = Extraction()
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        result.skipped.append(Skipped(source=label, reason=f"not a valid zip archive: {exc}"))
        return result
    with bundle:
        budget = limits.max_total_bytes
        for info in bundle.infolist():
            if info.is_dir():
                continue
            if len(result.files) >= limits.max_files:
                reason = f"archive has more than {limits.max_files} files; stopped there"
                result.skipped.append(Skipped(source=label, reason=reason))
                break
            problem = _member_problem(info, limits)
            if problem:
                result.skipped.append(Skipped(source=f"{label}:{info.filename}", reason=problem))
                continue
            target = dest.joinpath(*PurePosixPath(info.filename).parts)
            written = _copy_member(bundle, info, target, budget)
            if written is None:
                reason = f"uncompressed size exceeds {limits.max_total_bytes} bytes; stopped there"
                result.skipped.append(Skipped(source=label, reason=reason))
                break
            budget -= written
            result.files.append(target)
    return result


def _member_problem(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    """Why this member must not be extracted, or None."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path in archive"
    if ".." in path.parts:
        return "path traversal ('..') in archive"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link in archive"
    if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
        return f"compression ratio over {limits.max_ratio}:1 (possible zip bomb)"
    return None


def _copy_member(
    bundle: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int
) -> int | None:
    """Copy one member, counting real bytes; None (and no file) if the budget runs out."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with bundle.open(info) as source, target.open("wb") as sink:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > budget:
                break
            sink.write(chunk)
    if written > budget:
        target.unlink()
        return None
    return written
