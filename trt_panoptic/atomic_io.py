"""Atomic writes: a file or a whole output folder appears complete or not at all.

Every stage that leaves files behind (datasets, checkpoints, engines and sidecars, predictions, benchmark
results) writes through here. Files are written to a temporary name in the same folder, flushed to disk and
renamed (``os.replace`` is atomic on one file system); an output folder is built in a hidden sibling folder
and renamed into place at the end.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from trt_panoptic.errors import BrokenOutputError, TrtPanopticError


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` (same suffix), then rename it to ``path``.

    For writers that want a path (``np.savez``, ``savefig``, ``torch.save``); the file ends up 0644 (a
    temp file is created 0600, but results are meant to be read by others).
    """
    path = Path(path)
    if path.is_dir():
        raise TrtPanopticError(f"{path} should be writable as a file, got a folder — choose another output path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise TrtPanopticError(f"{path} should be writable, got {exc.strerror or exc} — choose another output path") from None
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise BrokenOutputError(f"{path} should be written completely, got {exc.strerror or exc} — free space or choose "
                                "another output path; nothing was kept") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path``: readers see either the old file or the whole new one."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(bytes(data)))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, data: object) -> Path:
    """``data`` as indented JSON (trailing newline) at ``path``."""
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def atomic_torch_save(path: str | os.PathLike, obj: object) -> Path:
    """``torch.save(obj)`` to ``path`` atomically.

    The archive is built in memory and written by :func:`atomic_write_bytes`: torch's own file writer turns a
    full disk into a RuntimeError (also through a file object), this way it is an ``OSError`` like any other
    write — a one-line error, no temp file left behind.
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getbuffer())


def check_writable_dir(folder: Path, what: str) -> None:
    """Raise a one-line error unless files can be created in ``folder`` (created if missing).

    Args:
        folder: where the output will be written.
        what: the output, as the user knows it (``"video output"``, ``"--stats"``), to start the message.
    """
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise TrtPanopticError(
            f"{what} should go into a folder, got '{folder}' ('{blocker}' is a file) — choose another path"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Permission bits do not tell (read-only mounts, ACLs, root): creating a file does.
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrtPanopticError(
            f"{what} should go into a writable folder, got '{folder}' ({exc.strerror or exc}) — choose another path"
        ) from None


def check_output_file(path: str | os.PathLike, flag: str) -> Path:
    """Refuse, in one line and before any work, an output file that could not be written: a folder of that
    name, or a folder that does not take new files (read-only, missing permission). Returns the path."""
    path = Path(path)
    if path.is_dir():
        raise TrtPanopticError(f"{flag} should be a file, got the folder '{path}' — name a file inside it")
    check_writable_dir(path.parent, flag)
    return path


def check_apart_from_inputs(output: str | Path, inputs: dict[str, str | Path], flag: str) -> None:
    """Refuse, in one line, an output that would overwrite, delete or mix with a command's inputs.

    ``output`` (a file or folder the command writes, or replaces with ``--force``) may not be an input, nor a
    folder that holds one (replacing it would delete the input); an output *inside* an input folder is fine
    (``--output images/preds``), as long as it is not itself an input.

    Args:
        inputs: what the user passed, as flag → path (``{"--input": "imgs/"}``).
        flag: the output's flag, for the message.
    """
    out = Path(output).resolve()
    for name, path in inputs.items():
        src = Path(path).resolve()
        if out == src:
            raise TrtPanopticError(f"{flag} {output} should differ from {name}, got the same path — the command would "
                                   "overwrite its own input; choose another output")
        if src.is_relative_to(out):
            raise TrtPanopticError(f"{flag} {output} should not hold {name} {path}, got a folder around it — replacing or "
                                   "filling it would touch the input; choose an output beside or inside it")


def check_output_dir(out: str | Path, force: bool, flag: str = "--out") -> Path:
    """Refuse a non-empty ``out`` unless ``force``; an existing plain file is always refused. ``flag`` names
    the output in the message."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TrtPanopticError(f"{flag} should be a folder, got the file {out} — choose another path")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise TrtPanopticError(f"{flag} {out} should be empty or absent, got a non-empty folder — pass --force to replace it")
    return out


@contextlib.contextmanager
def atomic_output_dir(out: str | Path, force: bool = False, flag: str = "--out") -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` (removed only then, if ``force``).

    Raises:
        TrtPanopticError: ``out`` is a file, or a non-empty folder and ``force`` is False.
    """
    out = check_output_dir(out, force, flag)
    check_writable_dir(out.parent, f"{flag} {out}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        try:
            yield tmp
        except OSError as exc:  # a full disk while filling it: nothing of it stays behind (finally)
            raise BrokenOutputError(f"{flag} {out} should be writable to the end, got {exc.strerror or exc} — free space "
                                   "or choose another folder") from None
        old = None
        try:
            os.chmod(tmp, 0o755)  # mkdtemp made it 0700; an output folder is meant to be read by others
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
                os.replace(out, old / "d")
            os.replace(tmp, out)
        except OSError as exc:
            if old is not None and (old / "d").exists() and not out.exists():
                os.replace(old / "d", out)  # the earlier output comes back: a failed swap loses nothing
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            raise BrokenOutputError(f"{flag} {out} should be replaced by the new output, got {exc.strerror or exc} — "
                                    "the earlier output is unchanged") from None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
