"""`import trt_panoptic.engine` (and every module of it) works where tensorrt/cuda/pycuda cannot be imported."""
import subprocess
import sys
from pathlib import Path

BLOCKER = r"""
import importlib, importlib.abc, pkgutil, sys
BLOCKED = ("tensorrt", "tensorrt_bindings", "cuda", "pycuda")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked {name}")
sys.meta_path.insert(0, Block())
import trt_panoptic.engine as engine
for info in pkgutil.iter_modules(engine.__path__):
    importlib.import_module(f"trt_panoptic.engine.{info.name}")
import trt_panoptic.cli.build
from trt_panoptic.cli.main import build_parser
build_parser()
loaded = [m for m in sys.modules if m.split(".")[0] in BLOCKED]
assert not loaded, loaded
print("ok")
"""


def test_engine_imports_without_tensorrt_or_cuda():
    proc = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
