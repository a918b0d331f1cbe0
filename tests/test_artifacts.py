"""Safe zip extraction: traversal, absolute paths, links, bombs, counts, non-zips."""

from __future__ import annotations

import zipfile
from pathlib import Path

from prompt_trainer.collect.artifacts import ZipLimits, extract_zip
from tests.scenarios import make_zip

LIMITS = ZipLimits(max_total_bytes=1_000_000, max_files=10)


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    return path


def test_hostile_members_are_refused_and_the_rest_extracted(tmp_path: Path) -> None:
    archive = write(
        tmp_path,
        make_zip(
            {
                "ok/junit.xml": "<testsuite/>",
                "../evil.txt": "x",
                "/etc/passwd": "x",
                "a/../../b.txt": "x",
            }
        ),
    )
    out = tmp_path / "out"
    result = extract_zip(archive, out, limits=LIMITS, label="art")
    assert [p.relative_to(out).as_posix() for p in result.files] == ["ok/junit.xml"]
    reasons = sorted(s.reason for s in result.skipped)
    assert reasons == [
        "absolute path in archive",
        "path traversal ('..') in archive",
        "path traversal ('..') in archive",
    ]
    assert not (tmp_path / "evil.txt").exists()


def test_symlinks_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        bundle.writestr(info, "/etc/passwd")
    result = extract_zip(archive, tmp_path / "out", limits=LIMITS, label="art")
    assert not result.files and result.skipped[0].reason == "symbolic link in archive"


def test_zip_bomb_ratio_and_total_size(tmp_path: Path) -> None:
    bomb = write(tmp_path, make_zip({"zeros.txt": b"\0" * 5_000_000}))
    result = extract_zip(bomb, tmp_path / "out", limits=LIMITS, label="art")
    assert not result.files and "compression ratio" in result.skipped[0].reason
    big = write(
        tmp_path, make_zip({"a.bin": bytes(range(256)) * 3000, "b.bin": bytes(range(256)) * 3000})
    )
    result = extract_zip(
        big, tmp_path / "out2", limits=ZipLimits(1_000_000, 10, 10_000), label="art"
    )
    assert len(result.files) == 1 and "uncompressed size exceeds" in result.skipped[0].reason


def test_file_count_cap_and_non_zip(tmp_path: Path) -> None:
    many = write(tmp_path, make_zip({f"f{i}.xml": "x" for i in range(15)}))
    result = extract_zip(many, tmp_path / "out", limits=LIMITS, label="art")
    assert len(result.files) == 10 and "more than 10 files" in result.skipped[0].reason
    junk = write(tmp_path, b"this is not a zip")
    result = extract_zip(junk, tmp_path / "out3", limits=LIMITS, label="art")
    assert not result.files and "not a valid zip" in result.skipped[0].reason
