"""Runtime fixtures: the export tests' tiny model and its exports (one export per test process)."""
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from export.tiny_model import cached_export, cached_model  # noqa: E402  (tests/ is on sys.path: tests/export is a package)


@pytest.fixture(scope="session")
def tiny():
    return cached_model()


@pytest.fixture(scope="session")
def portable_onnx():
    return cached_export("portable")


@pytest.fixture(scope="session")
def tensorrt_onnx():
    return cached_export("tensorrt")
