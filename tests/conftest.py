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
