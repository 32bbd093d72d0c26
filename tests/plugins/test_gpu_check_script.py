"""benchmarks/gpu_check.sh cannot run without a GPU; its Python half runs here on the host library."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_shell_script_parses():
    assert subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "gpu_check.sh")]).returncode == 0


def test_check_plugins_passes_on_the_host_library(host, tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu" / "check_plugins.py"), "--device", "cpu", "--iters", "1",
         "--rois", "20", "--channels", "4", "--roi-image", "96", "128", "--classes", "6", "--logits-hw", "16", "24",
         "--json", str(out)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| RoIAlignFPN edge RoIs vs ops pooler | float32 | PASS |" in proc.stdout
    rows = json.loads(out.read_text())
    assert {r["dtype"] for r in rows} == {"float32", "float16"} and all(r["ok"] for r in rows)
    assert all(r["ours_ms"] > 0 for r in rows if "speed-up" in r["detail"])
