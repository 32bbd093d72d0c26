"""Shared test setup: deterministic seeds, few threads, and the paths of the shared fixture data."""
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared fixture data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def coco_sample(shared_data) -> Path:
    """COCO panoptic ground truth of two val2017 images (images/, panoptic/, panoptic.json)."""
    return shared_data / "coco_panoptic_sample"


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
