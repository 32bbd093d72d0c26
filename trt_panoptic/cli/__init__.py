"""The ``trt-panoptic`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` to a function taking the parsed
arguments. :mod:`trt_panoptic.cli.main` discovers the modules, so adding a command is adding a file.
"""
