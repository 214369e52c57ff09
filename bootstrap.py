#!/usr/bin/env python3
"""Set-up and the two commands: ``python3 bootstrap.py serve`` and ``python3 bootstrap.py test``.

Needs only Python 3.11+. Creates ``.venv``, installs Hotline and its dependencies into it,
then either starts the whole service (``hotline dev``) or runs the whole test suite
(installing Debian's Chromium for the browser tests if it is missing).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
CHROMIUM = "/usr/bin/chromium"


def _run(*args: str, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, cwd=ROOT, env=env)


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project (editable) when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be run by an older python3
        sys.exit("Hotline needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    _run(str(BIN / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    _run(str(BIN / "python"), "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


def ensure_chromium() -> None:
    """Debian's Chromium for the browser tests (Playwright cannot download its own here)."""
    if Path(CHROMIUM).exists() or os.environ.get("HOTLINE_CHROMIUM"):
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        _run("apt-get", "update", "-qq", env=env)
        _run("apt-get", "install", "-y", "-qq", "chromium", env=env)
    else:
        print("warning: no Chromium at /usr/bin/chromium; install Debian's chromium package")


def main(argv: list[str]) -> int:
    """Dispatch ``serve`` or ``test``."""
    command = argv[1] if len(argv) > 1 else ""
    if command == "serve":
        ensure_venv("")
        os.execv(str(BIN / "hotline"), [str(BIN / "hotline"), "dev", *argv[2:]])
    if command == "test":
        ensure_venv("test")
        ensure_chromium()
        os.execv(str(BIN / "python"), [str(BIN / "python"), "-m", "pytest", *argv[2:]])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
