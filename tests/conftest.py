"""Shared test setup: deterministic seeds, few threads, the fixture data in tests/fixtures, a private export cache."""
import os
import tempfile
from pathlib import Path

import pytest
import torch

# Exports the onnxruntime backend makes for itself go to a cache of this test run, never the user's.
os.environ["TRT_PANOPTIC_CACHE"] = tempfile.mkdtemp(prefix="trt_panoptic_test_cache_")

#: Real data the tests read (provenance and licences: tests/fixtures/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """tests/fixtures: the COCO panoptic sample and the detectron2 parity fixture."""
    return FIXTURES


@pytest.fixture(scope="session")
def coco_sample(fixtures) -> Path:
    """COCO panoptic ground truth of two val2017 images (images/, panoptic/, panoptic.json)."""
    return fixtures / "coco_panoptic_sample"


# A tiny trained-shape model and its ONNX exports, built once per test process and shared by the export,
# runtime and quantization tests (tests/export/tiny_model.py).
@pytest.fixture(scope="session")
def tiny():
    from export.tiny_model import cached_model

    return cached_model()


@pytest.fixture(scope="session")
def portable_onnx():
    from export.tiny_model import cached_export

    return cached_export("portable")


@pytest.fixture(scope="session")
def detections_onnx():
    """The portable graph that stops at the detections (the host pastes and fuses)."""
    from export.tiny_model import cached_export

    return cached_export("portable", panoptic_tail=False)


@pytest.fixture(scope="session")
def tensorrt_onnx():
    from export.tiny_model import cached_export

    return cached_export("tensorrt")
