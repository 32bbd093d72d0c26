"""Building the plugin libraries: on-demand host build keyed by a source hash, CMake, and the build command."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.plugins import build

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
needs_cxx = pytest.mark.skipif(build.find_cxx() is None, reason="no C++ compiler on PATH")


@needs_cxx
def test_an_edited_source_gets_a_new_build(tmp_path, monkeypatch):
    sources = tmp_path / "plugins"
    shutil.copytree(PLUGINS, sources, ignore=shutil.ignore_patterns("build"))
    monkeypatch.setenv("TRT_PANOPTIC_PLUGIN_SOURCES", str(sources))
    first = build.build_host_library(tmp_path / "out")
    assert build.build_host_library(tmp_path / "out") == first, "unchanged sources should reuse the build"
    kernel = sources / "roi_align_fpn" / "kernel.cuh"
    kernel.write_text(kernel.read_text() + "\n// edited\n")
    second = build.build_host_library(tmp_path / "out")
    assert second != first and second.is_file() and first.is_file()


def test_missing_sources_are_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TRT_PANOPTIC_PLUGIN_SOURCES", str(tmp_path))
    with pytest.raises(TrtPanopticError, match="plugin sources should be in"):
        build.build_host_library(tmp_path / "out")


@needs_cxx
@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_cmake_builds_the_host_library(tmp_path):
    out = build.cmake_build(tmp_path, with_cuda=False)
    from trt_panoptic.plugins import host

    lib = host.load_library(out / build.HOST_LIBRARY_NAME)
    assert lib.tp_abi_version() == host._ABI_VERSION


@needs_cxx
def test_build_command_host_only(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trt_panoptic.plugins", "build", "--host-only", "--build-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "host library:" in proc.stdout and list(tmp_path.glob("host/*/" + build.HOST_LIBRARY_NAME))


@needs_cxx
@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_build_command_says_why_the_plugin_library_was_not_built(tmp_path, capsys, monkeypatch):
    # no TensorRT here: the command names the cause and what to set, and does not claim success
    from trt_panoptic.cli.main import main

    monkeypatch.delenv("TENSORRT_ROOT", raising=False)
    monkeypatch.setattr(build, "find_nvcc", lambda: None)  # the host library alone keeps this quick
    monkeypatch.setenv("CUDACXX", str(tmp_path / "no_nvcc"))
    rc = main(["plugins", "build", "--build-dir", str(tmp_path), "--tensorrt-root", str(tmp_path / "no_tensorrt"),
               "--cuda-archs", "90"])
    out = capsys.readouterr().out
    lib = build.PLUGIN_LIBRARY_NAME
    assert rc == 1 and f"{lib}: not built — nvcc not found, building the host library only (set CUDACXX" in out
    assert "install the CUDA toolkit (nvcc) or set CUDACXX" in out and "libtrt_panoptic_host.so: " + str(tmp_path) in out
