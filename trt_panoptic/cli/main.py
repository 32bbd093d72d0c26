"""Entry point of the ``trt-panoptic`` console script."""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import pkgutil
import sys
from typing import Sequence

import trt_panoptic
from trt_panoptic.errors import TrtPanopticError

_NOT_COMMANDS = {"main"}
#: OSErrors that mean the disk or folder cannot take the output.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command module of :mod:`trt_panoptic.cli` registered."""
    parser = argparse.ArgumentParser(
        prog="trt-panoptic",
        description="Panoptic FPN: train, export, build TensorRT engines, run on video, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"trt-panoptic {trt_panoptic.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    package = importlib.import_module("trt_panoptic.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_COMMANDS:
            continue
        module = importlib.import_module(f"trt_panoptic.cli.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command; a :class:`TrtPanopticError` becomes one line and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except TrtPanopticError as exc:
        print(f"trt-panoptic {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # The backstop for the system failing under a command where no check named it first: one line (the
        # atomic writers have already removed their temp files); disk advice only when it is the disk.
        where = f" ({exc.filename})" if exc.filename else ""
        fix = ("free space or choose another path" if exc.errno in _DISK_ERRNOS
               else "check the path, device or address it names")
        print(f"trt-panoptic {args.command}: error: the operation should succeed, got "
              f"{errno.errorcode.get(exc.errno or 0, 'an OS error')}: {exc.strerror or exc}{where} — {fix}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"trt-panoptic {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
