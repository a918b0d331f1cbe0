"""Start-up and install benchmark for the Action.

Run with ``.venv/bin/python bench/startup.py [--install]``. Prints the wall time (best of 5, in
fresh processes) of ``prompt-trainer --help`` and of the non-LLM modes on the bundled example
(``inspect``, ``collect --local``, ``report``, ``versions``). Target: the non-LLM modes start in
under 0.5 s. With ``--install``, also the time to install the Action's hash-pinned lock
(``action/requirements.lock``) into a fresh virtual environment with uv and with pip, each with
its local download cache as it is on this machine (target: under 10 s with uv).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "basic"
BIN = Path(sys.executable).parent / "prompt-trainer"


def best_of(command: list[str], cwd: Path, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def startup() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        example = Path(tmp) / "basic"
        shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns(".prompt-trainer"))
        subprocess.run(
            [str(BIN), "collect", "--local", "evidence"],
            cwd=example,
            check=True,
            capture_output=True,
        )
        cases = {
            "--help": [str(BIN), "--help"],
            "inspect (one JUnit file)": [str(BIN), "inspect", "evidence/pr-101/junit.xml"],
            "collect --local (12 PRs)": [str(BIN), "collect", "--local", "evidence"],
            "report (index in place)": [str(BIN), "report", "--history", "none"],
            "versions": [str(BIN), "versions", "--history", "none"],
            "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
        }
        print("wall time, best of 5 fresh processes:")
        for label, command in cases.items():
            print(f"  {label:36} {best_of(command, example):.2f} s")


def install() -> None:
    lock = ROOT / "action" / "requirements.lock"
    print("installing action/requirements.lock into a fresh venv (local caches as they are):")
    with tempfile.TemporaryDirectory() as tmp:
        uv_env = Path(tmp) / "uv"
        start = time.perf_counter()
        # uv is installed for the system interpreter by scripts/setup, as the Action does.
        subprocess.run(["python3", "-m", "uv", "venv", "-q", str(uv_env)], check=True)
        subprocess.run(
            [
                "python3",
                "-m",
                "uv",
                "pip",
                "install",
                "-q",
                "--python",
                str(uv_env / "bin" / "python"),
                "--require-hashes",
                "-r",
                str(lock),
            ],
            check=True,
        )
        print(f"  uv:  {time.perf_counter() - start:.1f} s")
        pip_env = Path(tmp) / "pip"
        start = time.perf_counter()
        subprocess.run(["python3", "-m", "venv", str(pip_env)], check=True)
        subprocess.run(
            [
                str(pip_env / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--require-hashes",
                "-r",
                str(lock),
            ],
            check=True,
        )
        print(f"  pip: {time.perf_counter() - start:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="also time the installs")
    args = parser.parse_args()
    startup()
    if args.install:
        install()


if __name__ == "__main__":
    main()
