"""Lazy imports of the optional robotics packages, with a one-line error naming the extra."""
from __future__ import annotations

import importlib
from types import ModuleType

from trt_panoptic.errors import TrtPanopticError

INSTALL_HINT = "pip install -e '.[robotics]'"


def import_robotics(module: str) -> ModuleType:
    """Import ``module`` (``mcap``, ``mcap_ros2.decoder``, ``foxglove`` …) or raise a TrtPanopticError.

    Raises:
        TrtPanopticError: the package is missing — the message names the ``robotics`` extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise TrtPanopticError(
            f"ROS 2 bags and Foxglove need the robotics extra, got no {module.split('.')[0]} ({exc}) — "
            f"install it: {INSTALL_HINT}"
        ) from None
