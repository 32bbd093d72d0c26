"""Building the plugin sources in ``plugins/``: the host library, the CUDA kernels, the TensorRT plugin library.

Three products, from the same sources (see ``plugins/README.md``):

- the **host library** ``libtrt_panoptic_host.so``: the kernels' per-element math (``kernel.cuh``) and the
  plugins' field parsing (``fields.h``) compiled by the C++ compiler alone; :mod:`trt_panoptic.plugins.host`
  loads it with ctypes. It is built on demand into a directory named by a hash of its sources and flags,
  so an edited source is never served from a stale build.
- the **CUDA kernels** (``kernel.cu``) compiled by nvcc for sm_87 (Jetson Orin), sm_89, sm_90 + PTX.
- ``libtrt_panoptic_plugins.so`` (CMake, only when TensorRT headers and libraries are found).

``plugins/CMakeLists.txt`` and each plugin folder's ``CMakeLists.txt`` are the one description of the build
(folders, sources per target, flags, architectures); ``trt-panoptic plugins build`` runs CMake on them, and
the no-CMake paths here (the on-demand host library, ``--direct``) read the same files
(:func:`build_description`).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

HOST_LIBRARY_NAME = "libtrt_panoptic_host.so"
CUDA_LIBRARY_NAME = "libtrt_panoptic_cuda.so"
PLUGIN_LIBRARY_NAME = "libtrt_panoptic_plugins.so"
#: What CMake's target properties give the host library (C++17, shared, PIC, threads, Release); the
#: project's own flags come from plugins/CMakeLists.txt (``TP_HOST_CXX_FLAGS``).
_CMAKE_HOST_BASE_FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-pthread")


@dataclass(frozen=True)
class BuildDescription:
    """The build as ``plugins/CMakeLists.txt`` and the plugin folders' ``CMakeLists.txt`` describe it.

    Attributes:
        folders: the plugin folders (``add_subdirectory``), in order.
        host_sources, kernel_sources, plugin_sources: files of each target, relative to ``plugins/``.
        host_cxx_flags: the host library's own compiler flags (``TP_HOST_CXX_FLAGS``).
        cuda_archs: SM versions, the last also gets PTX (``TP_CUDA_ARCHS``).
    """

    folders: tuple[str, ...]
    host_sources: tuple[str, ...]
    kernel_sources: tuple[str, ...]
    plugin_sources: tuple[str, ...]
    host_cxx_flags: tuple[str, ...]
    cuda_archs: tuple[str, ...]


def build_description(root: Path | None = None) -> BuildDescription:
    """Read :class:`BuildDescription` from the CMake files under ``root`` (default :func:`source_root`)."""
    root = root or source_root()
    return _read_description(root.resolve())


@functools.lru_cache(maxsize=4)
def _read_description(root: Path) -> BuildDescription:
    top = _cmake_text(root / "CMakeLists.txt")

    def words(pattern: str) -> tuple[str, ...]:
        match = re.search(pattern, top)
        if match is None:
            raise TrtPanopticError(f"{root / 'CMakeLists.txt'} should match {pattern!r}, got no match — restore the file")
        return tuple(shlex.split(match.group(1)))

    sources = {kind: list(words(rf"set_property\(GLOBAL PROPERTY TP_{kind}_SOURCES([^)]*)\)"))
               for kind in ("HOST", "KERNEL", "PLUGIN")}
    folders = tuple(re.findall(r"^add_subdirectory\((\w+)\)", top, re.MULTILINE))
    for folder in folders:
        call = re.search(r"tp_plugin\((\w+)([^)]*)\)", _cmake_text(root / folder / "CMakeLists.txt"))
        if call is None or call.group(1) != folder:
            raise TrtPanopticError(f"{root / folder / 'CMakeLists.txt'} should call tp_plugin({folder} ...), got none — restore it")
        kind = None
        for token in call.group(2).split():
            if token in sources:
                kind = token
            elif kind is not None:
                sources[kind].append(f"{folder}/{token}")
    return BuildDescription(folders, tuple(sources["HOST"]), tuple(sources["KERNEL"]), tuple(sources["PLUGIN"]),
                            words(r"set\(TP_HOST_CXX_FLAGS([^)]*)\)"), words(r"set\(TP_CUDA_ARCHS([^)]*)\)"))


def _cmake_text(path: Path) -> str:
    """A CMake file without its comments."""
    return "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())


def default_cuda_archs() -> tuple[str, ...]:
    """The SM versions ``plugins/CMakeLists.txt`` builds for (``TP_CUDA_ARCHS``)."""
    return build_description().cuda_archs


def source_root() -> Path:
    """The ``plugins/`` folder of the source checkout (it holds the C++/CUDA sources)."""
    root = Path(os.environ.get("TRT_PANOPTIC_PLUGIN_SOURCES", Path(__file__).resolve().parents[2] / "plugins"))
    if not (root / "host" / "host_api.cpp").is_file():
        raise TrtPanopticError(
            f"plugin sources should be in {root}, got no host/host_api.cpp there — install trt_panoptic from a "
            "source checkout (pip install -e .) or set TRT_PANOPTIC_PLUGIN_SOURCES to its plugins/ folder"
        )
    return root


def default_build_dir() -> Path:
    """Where builds go: ``$TRT_PANOPTIC_PLUGIN_BUILD`` or ``plugins/build`` (git-ignored)."""
    env = os.environ.get("TRT_PANOPTIC_PLUGIN_BUILD")
    return Path(env) if env else source_root() / "build"


def find_cxx() -> str | None:
    """The C++ compiler: ``$CXX`` or the first of c++, g++, clang++ on PATH; None if there is none."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    return None


def find_nvcc() -> str | None:
    """nvcc: ``$CUDACXX``, on PATH, or under ``$CUDA_HOME``/``/usr/local/cuda``; None if absent."""
    if os.environ.get("CUDACXX") and shutil.which(os.environ["CUDACXX"]):
        return shutil.which(os.environ["CUDACXX"])
    found = shutil.which("nvcc")
    if found:
        return found
    for home in (os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if home and (Path(home) / "bin" / "nvcc").is_file():
            return str(Path(home) / "bin" / "nvcc")
    return None


def find_cuda_home() -> Path | None:
    """The CUDA toolkit root (with include/cuda_runtime_api.h): $CUDA_HOME, nvcc's parent, /usr/local/cuda."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = find_nvcc()
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parents[1]))
    candidates.append("/usr/local/cuda")
    for c in candidates:
        if c and (Path(c) / "include" / "cuda_runtime_api.h").is_file():
            return Path(c)
    return None


def host_sources(root: Path) -> list[Path]:
    """Every file the host library is compiled from, headers included (their hash names the build)."""
    description = build_description(root)
    files = [root / f for f in description.host_sources]
    files += [*sorted((root / "common").glob("*.h")), *sorted((root / "common").glob("*.cuh"))]
    for folder in description.folders:
        files += sorted((root / folder).glob("*.h")) + sorted((root / folder).glob("*.cuh"))
    return files


def _digest(files: list[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    """Run ``cmd``; its stdout, or a one-line error with the end of its output."""
    logger.info("%s: %s", what, " ".join(cmd))
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-20:]
        raise TrtPanopticError(
            f"{what} should succeed, got exit code {proc.returncode}: {' | '.join(tail)} — fix the error above "
            "or rerun with the same command to see it in full"
        )
    return proc.stdout


def build_host_library(build_dir: Path | None = None, cxx: str | None = None, force: bool = False) -> Path:
    """Compile the host library (one g++/clang++ call, ~1 s) unless a build of the same sources exists.

    Args:
        build_dir: root of the builds (default :func:`default_build_dir`); the library lands in
            ``<build_dir>/host/<hash>/libtrt_panoptic_host.so``.
        cxx: the C++ compiler (default :func:`find_cxx`).
        force: rebuild even if the library exists.

    Returns:
        Path of the shared library.
    """
    root = source_root()
    cxx = cxx or find_cxx()
    if cxx is None:
        raise TrtPanopticError("a C++ compiler should be on PATH, got none — install g++ (apt install g++) or set CXX")
    description = build_description(root)
    flags = (*_CMAKE_HOST_BASE_FLAGS, *description.host_cxx_flags)
    digest = _digest(host_sources(root), " ".join((Path(cxx).name, *flags)))
    out_dir = (build_dir or default_build_dir()) / "host" / digest
    lib = out_dir / HOST_LIBRARY_NAME
    if lib.is_file() and not force:
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    # compile to a temporary name, then rename: concurrent test processes never load a half-written file
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        _run([cxx, *flags, "-o", tmp, *(str(root / f) for f in description.host_sources)], "host library build")
        os.replace(tmp, lib)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


def nvcc_gencode_flags(archs: tuple[str, ...], ptx: bool = True) -> list[str]:
    """``-gencode`` flags: SASS for each arch, plus PTX of the newest so future GPUs can JIT it."""
    flags = []
    for i, arch in enumerate(archs):
        codes = f"sm_{arch}"
        if ptx and i == len(archs) - 1:
            codes = f"[sm_{arch},compute_{arch}]"
        flags += ["-gencode", f"arch=compute_{arch},code={codes}"]
    return flags


def cuda_kernel_sources(root: Path | None = None) -> list[Path]:
    """The kernel sources of every plugin (``tp_plugin(... KERNEL ...)``)."""
    root = root or source_root()
    return [root / f for f in build_description(root).kernel_sources]


def compile_cuda_kernels(
    out_dir: Path, archs: tuple[str, ...] | None = None, ptx: bool = True, nvcc: str | None = None
) -> list[Path]:
    """Compile each plugin's ``kernel.cu`` to an object file (no TensorRT needed; a GPU is not needed).

    Returns:
        The object files, one per plugin.
    """
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise TrtPanopticError("nvcc should be installed, got none on PATH — install the CUDA toolkit or set CUDACXX")
    archs = archs or default_cuda_archs()
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for src in cuda_kernel_sources():
        obj = out_dir / f"{src.parent.name}.o"
        # hidden: the launchers are linked into a library that exports only its own entry points
        _run([nvcc, "-std=c++17", "-O3", "-Xcompiler", "-fPIC,-fvisibility=hidden", *nvcc_gencode_flags(archs, ptx),
              "-c", str(src), "-o", str(obj)], f"nvcc {src.parent.name}")
        objects.append(obj)
    return objects


def build_cuda_library(
    build_dir: Path | None = None, archs: tuple[str, ...] | None = None, nvcc: str | None = None
) -> Path:
    """``libtrt_panoptic_cuda.so``: the launchers behind a C API (``plugins/host/cuda_api.cpp``), for
    running the kernels from Python on a GPU without TensorRT (the GPU check). Always rebuilt."""
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise TrtPanopticError("nvcc should be installed, got none on PATH — install the CUDA toolkit or set CUDACXX")
    root = source_root()
    archs = archs or default_cuda_archs()
    out_dir = (build_dir or default_build_dir()) / "cuda"
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / CUDA_LIBRARY_NAME
    tmp = out_dir / f".tmp-{os.getpid()}-{CUDA_LIBRARY_NAME}"
    _run([nvcc, "-std=c++17", "-O3", "-shared", "-Xcompiler", "-fPIC", *nvcc_gencode_flags(archs),
          str(root / "host" / "cuda_api.cpp"), *map(str, cuda_kernel_sources(root)), "-o", str(tmp)],
         "CUDA library build")
    os.replace(tmp, lib)
    return lib


def cmake_build(
    build_dir: Path | None = None,
    tensorrt_root: str | None = None,
    cuda_archs: tuple[str, ...] | None = None,
    with_cuda: bool = True,
    jobs: int = 2,
    notes: list[str] | None = None,
) -> Path:
    """Configure and build ``plugins/CMakeLists.txt``: host library, CUDA kernels (if nvcc is found and
    ``with_cuda``) and ``libtrt_panoptic_plugins.so`` (if TensorRT is found; otherwise CMake says it skips it).

    Args:
        cuda_archs: SM versions to build for (default: the file's own ``TP_CUDA_ARCHS``).
        notes: if given, receives the configure step's own messages (what was found, what is skipped and why).

    Returns:
        The CMake build directory (``<build_dir>/cmake``), holding the built libraries.
    """
    cmake = shutil.which("cmake")
    if cmake is None:
        raise TrtPanopticError("cmake should be on PATH, got none — pip install cmake (or apt install cmake)")
    root = source_root()
    out = (build_dir or default_build_dir()) / "cmake"
    cmd = [cmake, "-S", str(root), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
           f"-DTP_BUILD_CUDA={'ON' if with_cuda else 'OFF'}"]
    if cuda_archs:  # otherwise the file's own TP_CUDA_ARCHS
        # "-real": SASS only; the newest arch also gets PTX (CMake's plain "90" = SASS + PTX)
        cmd.append("-DCMAKE_CUDA_ARCHITECTURES=" + ";".join([f"{a}-real" for a in cuda_archs[:-1]] + [cuda_archs[-1]]))
    nvcc = find_nvcc()
    if with_cuda and nvcc:
        cmd.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
    if tensorrt_root:
        cmd.append(f"-DTENSORRT_ROOT={tensorrt_root}")
    configure = _run(cmd, "cmake configure")
    if notes is not None:
        notes.extend(line.split("trt_panoptic: ", 1)[1].strip() for line in configure.splitlines() if "trt_panoptic: " in line)
    _run([cmake, "--build", str(out), "-j", str(jobs)], "cmake build")
    return out
