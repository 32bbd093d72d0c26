"""``python tests/video/fake_cli.py run ...``: the real CLI with create_predictor patched to a FakePredictor.

Lets subprocess tests exercise signal handling and output files without a trained model. The fake's
per-frame delay comes from the environment variable FAKE_DELAY_S.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trt_panoptic.runtime  # noqa: E402
from trt_panoptic.cli.main import main  # noqa: E402
from video.conftest import FakePredictor  # noqa: E402


def _fake_create_predictor(backend: str = "auto", **_: object) -> FakePredictor:
    return FakePredictor(delay_s=float(os.environ.get("FAKE_DELAY_S", "0")))


trt_panoptic.runtime.create_predictor = _fake_create_predictor

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
