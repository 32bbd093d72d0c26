"""The IPluginV3 wrappers compile against NVIDIA's public TensorRT headers, export the loader symbols, and
behave as TensorRT expects when driven through those interfaces (cpp/plugin_smoke.cpp: creators, fields,
types, formats, serialization round trip, errors through the logger; no libnvinfer and no GPU needed).

CI has no TensorRT: NVIDIA's public headers of the versions we target (v10.3.0, JetPack 6, and v11.1;
Apache-2.0) sit beside the repository in ``../shared/vendor/tensorrt/<tag>/include`` (never copied into
it), or any list of include folders is given in $TRT_PANOPTIC_TENSORRT_INCLUDES (os.pathsep-separated).
The test skips only when neither is there.
"""
from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import pytest

from trt_panoptic.plugins import build

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"
VENDORED = REPO.parent / "shared" / "vendor" / "tensorrt"
#: the TensorRT plugin library's sources, as the build describes them (plugins/*/CMakeLists.txt)
WRAPPERS = list(build.build_description(PLUGINS).plugin_sources)


def _include_dirs() -> list[str]:
    env = os.environ.get("TRT_PANOPTIC_TENSORRT_INCLUDES")
    dirs = env.split(os.pathsep) if env else sorted(glob.glob(str(VENDORED / "*" / "include")))
    return [d for d in dirs if (Path(d) / "NvInferRuntime.h").is_file()]


def _cuda_include() -> str | None:
    home = build.find_cuda_home()
    return str(home / "include") if home else None


INCLUDES = _include_dirs()


@pytest.mark.skipif(not INCLUDES, reason=f"TensorRT headers not found in {VENDORED}/<tag>/include (NVIDIA's public "
                    "headers; or set TRT_PANOPTIC_TENSORRT_INCLUDES)")
@pytest.mark.skipif(build.find_cxx() is None or _cuda_include() is None, reason="needs a C++ compiler and CUDA headers")
@pytest.mark.parametrize("include", INCLUDES or ["none"], ids=lambda d: Path(d).parent.name)
def test_plugin_library_builds_against_tensorrt_headers(include, cuda_objects, tmp_path):
    cxx, cuda_inc = build.find_cxx(), _cuda_include()
    objects = []
    for src in WRAPPERS:
        obj = tmp_path / f"{Path(src).parent.name}_{Path(src).stem}.o"
        proc = subprocess.run(
            [cxx, "-std=c++17", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror", "-isystem", include,
             "-isystem", cuda_inc, "-c", str(PLUGINS / src), "-o", str(obj)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        objects.append(str(obj))
    lib = tmp_path / build.PLUGIN_LIBRARY_NAME
    cudart = Path(cuda_inc).parent / "lib64"  # the toolkit's static cudart: no libnvinfer, no GPU needed
    proc = subprocess.run([cxx, "-shared", "-o", str(lib), *objects, *map(str, cuda_objects), f"-L{cudart}",
                           "-lcudart_static", "-ldl", "-lpthread", "-lrt", "-Wl,--no-undefined"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    exported = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True).stdout
    names = {line.split()[-1] for line in exported.splitlines() if " T " in line}
    # TensorRT's loader (IPluginRegistry::loadLibrary, trtexec --dynamicPlugins) looks these two up
    assert names == {"getCreators", "setLoggerFinder"}

    smoke = tmp_path / "plugin_smoke"
    proc = subprocess.run([cxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-isystem", include, "-isystem", cuda_inc,
                           str(Path(__file__).parent / "cpp" / "plugin_smoke.cpp"), "-o", str(smoke), str(lib),
                           f"-Wl,-rpath,{tmp_path}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = subprocess.run([str(smoke)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip().endswith("OK"), run.stdout + run.stderr
