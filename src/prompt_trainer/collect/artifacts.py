"""Safe extraction of downloaded artifact zips.

Every member is checked before a byte is written: no absolute paths, no ``..`` components, no
symbolic links, no empty name (``.``), no name too long for the file system, no encrypted member
and no compression method this Python cannot read; caps on the number of files, the total
uncompressed size (counted while writing, not trusted from the header) and the compression
ratio. A member that breaks a rule, collides with a file or directory already extracted, or turns
out corrupt while it is read (a bad CRC, a broken deflate stream) is reported as ``Skipped`` with
its reason, no partial file is left, and the rest of the archive is still extracted; an archive
that breaks a global cap stops there, keeping what was extracted before. Nothing an archive holds
raises out of ``extract_zip``: a bug one member reaches skips that member with an "internal error"
reason (``collect/per_file.py``).
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from prompt_trainer.collect.per_file import internal_error
from prompt_trainer.models import Skipped
from prompt_trainer.workdir import CapExceeded, write_capped

MAX_RATIO = 200
CHUNK = 1024 * 1024
#: Longest member name, and longest path component in bytes (Linux's NAME_MAX).
MAX_NAME_CHARS = 1024
MAX_PART_BYTES = 255
#: Longest member name quoted in a ``Skipped.source``.
SHOWN_NAME_CHARS = 120
READABLE_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
ENCRYPTED_FLAG = 0x1
#: What a damaged member raises while it is read (zlib/bz2/lzma errors, a short read).
CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


#: An archive listing more than this many times ``max_files`` members is not opened at all:
#: ``zipfile`` holds a ``ZipInfo`` (some 500 bytes) per member listed, ten times a member's
#: 46-byte directory entry, so a listing of millions would grow memory faster than the input.
LISTING_FACTOR = 10
EOCD = b"PK\x05\x06"
ZIP64_LOCATOR = b"PK\x06\x07"
EOCD_SEARCH = 65_536 + 22


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
    listed = listed_members(archive)
    if listed is not None and listed > limits.max_files * LISTING_FACTOR:
        reason = (
            f"archive lists {listed} members, over {LISTING_FACTOR}x the {limits.max_files}-file "
            "cap; not opened (its directory alone would fill memory)"
        )
        result.skipped.append(Skipped(source=label, reason=reason))
        return result
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        result.skipped.append(Skipped(source=label, reason=f"not a valid zip archive: {exc}"))
        return result
    except Exception as exc:  # the per-file boundary (collect/per_file.py)
        result.skipped.append(internal_error(label, exc, what="archive"))
        return result
    with bundle:
        try:
            _extract_members(bundle, dest, limits=limits, label=label, result=result)
        except Exception as exc:  # the per-file boundary (collect/per_file.py)
            result.skipped.append(internal_error(label, exc, what="archive"))
    return result


def _extract_members(
    bundle: zipfile.ZipFile, dest: Path, *, limits: ZipLimits, label: str, result: Extraction
) -> None:
    budget = limits.max_total_bytes
    for info in bundle.infolist():
        if info.is_dir():
            continue
        if len(result.files) >= limits.max_files:
            reason = f"archive has more than {limits.max_files} files; stopped there"
            result.skipped.append(Skipped(source=label, reason=reason))
            return
        source = f"{label}:{_shown(info.filename)}"
        try:
            written = _extract_member(bundle, info, dest, limits, budget=budget, source=source)
        except CapExceeded:  # the archive's uncompressed-size budget ran out inside a member
            reason = f"uncompressed size exceeds {limits.max_total_bytes} bytes; stopped there"
            result.skipped.append(Skipped(source=label, reason=reason))
            return
        except Exception as exc:  # the per-file boundary, per member (collect/per_file.py)
            result.skipped.append(internal_error(source, exc, what="archive member"))
            continue
        if isinstance(written, Skipped):
            result.skipped.append(written)
            continue
        budget -= written[1]
        result.files.append(written[0])


def _extract_member(
    bundle: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    dest: Path,
    limits: ZipLimits,
    *,
    budget: int,
    source: str,
) -> tuple[Path, int] | Skipped:
    """One member written within ``budget`` bytes (its path and size), or why it was not;
    ``CapExceeded`` when the budget runs out inside it."""
    problem = _member_problem(info, limits) or _collision(dest, info.filename)
    if problem:
        return Skipped(source=source, reason=problem)
    target = dest.joinpath(*PurePosixPath(info.filename.replace("\\", "/")).parts)
    try:
        return target, _copy_member(bundle, info, target, budget)
    except CORRUPT as exc:
        return Skipped(source=source, reason=f"corrupt or unreadable member, not extracted: {exc}")


def _member_problem(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    """Why this member must not be extracted, or None."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path in archive"
    if ".." in path.parts:
        return "path traversal ('..') in archive"
    if not path.parts:
        return "member has no file name ('.')"
    if len(name) > MAX_NAME_CHARS:
        return f"name is {len(name)} characters, over the {MAX_NAME_CHARS} cap"
    if any(len(part.encode("utf-8", "replace")) > MAX_PART_BYTES for part in path.parts):
        return f"a path component is longer than {MAX_PART_BYTES} bytes"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link in archive"
    if info.flag_bits & ENCRYPTED_FLAG:
        return "encrypted member (password-protected); not extracted"
    if info.compress_type not in READABLE_METHODS:
        return f"unsupported compression method {info.compress_type}"
    if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
        return f"compression ratio over {limits.max_ratio}:1 (possible zip bomb)"
    return None


def _collision(dest: Path, name: str) -> str | None:
    """Why the member's path cannot be created: an earlier member took it or one of its parents
    with the other kind (file vs directory), or wrote the same name already."""
    target = dest.joinpath(*PurePosixPath(name.replace("\\", "/")).parts)
    if target.is_dir():
        return "name collides with a directory already extracted"
    if target.exists():
        return "duplicate member name; the first one is kept"
    for parent in target.parents:
        if parent == dest:
            break
        if parent.exists() and not parent.is_dir():
            return f"path collides with the file {parent.relative_to(dest).as_posix()!r}"
    return None


def _copy_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one member, counting real bytes; on overflow or damage no file is left behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with bundle.open(info) as source:
        return write_capped(target, iter(lambda: source.read(CHUNK), b""), max_bytes=budget)


def listed_members(archive: Path) -> int | None:
    """The member count the archive's end-of-central-directory record declares (ZIP64 too),
    read before ``zipfile`` loads the directory; None when there is no such record."""
    try:
        with archive.open("rb") as handle:
            size = handle.seek(0, 2)
            start = max(0, size - EOCD_SEARCH)
            handle.seek(start)
            tail = handle.read()
            at = tail.rfind(EOCD)
            if at < 0 or len(tail) < at + 22:
                return None
            count = int.from_bytes(tail[at + 10 : at + 12], "little")
            locator = tail.rfind(ZIP64_LOCATOR, 0, at)
            if count != 0xFFFF or locator < 0:
                return count
            handle.seek(int.from_bytes(tail[locator + 8 : locator + 16], "little"))
            record = handle.read(40)
            return int.from_bytes(record[32:40], "little") if len(record) == 40 else None
    except OSError:
        return None


def _shown(name: str) -> str:
    """A member name short enough to quote in a report."""
    if len(name) <= SHOWN_NAME_CHARS:
        return name
    return f"{name[:SHOWN_NAME_CHARS]}… ({len(name)} characters)"
