"""The project's exception and the import of optional packages.

Errors a user can cause (missing file, bad config, wrong ONNX, engine/GPU mismatch, missing optional
package) raise :class:`TrtPanopticError` with a one-line message that says what to do; the CLI prints it
and exits non-zero without a traceback. Internal invariants use plain asserts.
"""
from __future__ import annotations

import importlib
from types import ModuleType


class TrtPanopticError(Exception):
    """A user-facing error: the message is one line that says what is wrong and how to fix it.

    The CLI exits with :attr:`exit_code`: 2 for input the user can fix before running again.
    """

    exit_code = 2


class BrokenOutputError(TrtPanopticError):
    """The work ran but an output could not be completed (full disk, failing encoder); it was not kept (exit 1)."""

    exit_code = 1


class PartialRunError(TrtPanopticError):
    """Some streams of a multi-stream run failed; the others ran to their end and every output was closed
    (exit 1)."""

    exit_code = 1


def import_optional(module: str, install_hint: str) -> ModuleType:
    """Import ``module`` or raise a :class:`TrtPanopticError` naming what to install.

    Args:
        module: dotted module name, e.g. ``"onnxruntime"``.
        install_hint: what the user should run or install, e.g. ``"pip install onnxruntime"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise TrtPanopticError(f"{module} is not installed ({exc}) — {install_hint}") from None
