"""Hostile places to write to: a full disk and a read-only folder, as real mounts.

CI runs as root, where ``chmod`` stops nothing, so an unwritable folder is a read-only bind mount and a full
disk a 64 KiB tmpfs filled to the brim. Where mounting is refused (not root, no CAP_SYS_ADMIN, a sandbox),
the tests that need them skip and say why.
"""
import hashlib
import os
import subprocess
from pathlib import Path

import pytest


def _mount(args: list[str], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount here ({done.stderr.strip() or 'mount failed'}): the test needs root in a "
                    "machine that allows mounts, as CI has")


def _unmount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _tmpfs(target: Path, free_bytes: int) -> Path:
    """Mount a 256 KiB tmpfs at ``target`` and fill it until only about ``free_bytes`` remain."""
    _mount(["-t", "tmpfs", "-o", "size=256k", "tmpfs"], target)
    fd = os.open(target / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.statvfs(target).f_bavail * os.statvfs(target).f_frsize > free_bytes and os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # ENOSPC: full
        pass
    finally:
        os.close(fd)
    return target


@pytest.fixture()
def full_disk(tmp_path):
    """A folder on a tmpfs with every byte taken: creating files works, writing data fails (ENOSPC)."""
    try:
        yield _tmpfs(tmp_path / "full", 0)
    finally:
        _unmount(tmp_path / "full")


@pytest.fixture()
def small_disk(tmp_path):
    """A folder on a tmpfs with 16 KiB left: a writer opens, then the disk fills while it writes."""
    try:
        yield _tmpfs(tmp_path / "small", 16 << 10)
    finally:
        _unmount(tmp_path / "small")


@pytest.fixture()
def read_only_dir(tmp_path):
    """An empty folder mounted read-only (EROFS for every write, root included)."""
    source, target = tmp_path / "ro-source", tmp_path / "ro"
    source.mkdir()
    _mount(["-o", "bind,ro", str(source)], target)
    try:
        yield target
    finally:
        _unmount(target)


def checksums(folder: Path) -> dict[str, str]:
    """Path → sha256 of every file under ``folder``: inputs are compared before and after a command."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def the_error(err: str) -> str:
    """The one error line a failed command printed; no traceback, no second error."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0]


def leftovers(folder: Path, *, besides: tuple[str, ...] = ("filler",)) -> list[str]:
    """Every file or folder under ``folder`` other than ``besides`` (temp files included: names start with '.')."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name not in besides)
