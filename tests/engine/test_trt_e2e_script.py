"""benchmarks/trt_e2e.sh: valid bash, and where TensorRT/GPU are missing it skips with the reason (exit 0)."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "trt_e2e.sh"


def test_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None and shutil.which("nvidia-smi") is not None,
                    reason="TensorRT and a GPU are here: the script would really run (minutes)")
def test_script_skips_with_reason(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "e2e")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("SKIP: ") and len(proc.stdout.strip().splitlines()) == 1
    assert not (tmp_path / "e2e").exists()
