import sys
from pathlib import Path

# the helpers beside the tests (tiny ONNX models, the fake tensorrt) import as plain modules
sys.path.insert(0, str(Path(__file__).resolve().parent))
