"""Export fixtures: the tiny model exported once per test process (portable, then its TensorRT flavour)."""
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from .tiny_model import cached_export, cached_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny():
    return cached_model()


@pytest.fixture(scope="session")
def portable_onnx():
    return cached_export("portable")


@pytest.fixture(scope="session")
def tensorrt_onnx():
    return cached_export("tensorrt")
