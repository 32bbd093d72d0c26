"""Benchmark reports: the machine and library versions, JSON, a Markdown table and a PNG plot.

Every result file carries :func:`machine_info` so a number is never separated from the hardware and
software that produced it. Writes go to a temporary file that is then renamed over the target.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from trt_panoptic.atomic_io import atomic_write
from trt_panoptic.errors import import_optional

_LIBRARIES = ("torch", "numpy", "onnx", "onnxruntime", "tensorrt", "fvcore", "matplotlib")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[dict[str, Any]]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    gpus = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        gpus.append({"name": p.name, "compute_capability": f"{p.major}.{p.minor}",
                     "memory_gb": round(p.total_memory / 1e9, 1)})
    return gpus


def library_versions() -> dict[str, str | None]:
    """Version of each library that can matter for a benchmark; ``None`` when not installed."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = str(importlib.import_module(name).__version__)
        except Exception:  # noqa: BLE001 — a broken optional install must not break the report
            versions[name] = None
    return versions


def machine_info() -> dict[str, Any]:
    """CPU model, logical cores, torch threads, GPUs (via torch.cuda), OS, library versions, UTC time."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "gpus": _gpus(),
        "versions": library_versions(),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def machine_line(info: Mapping[str, Any]) -> str:
    """One Markdown line describing the machine: CPU, cores, GPU, key library versions."""
    gpus = ", ".join(f"{g['name']} (sm {g['compute_capability']})" for g in info.get("gpus", [])) or "none"
    v = info.get("versions", {})
    libs = ", ".join(f"{k} {v[k]}" for k in ("python", "torch", "onnxruntime", "tensorrt") if v.get(k))
    threads = f", torch threads {info['torch_threads']}" if "torch_threads" in info else ""
    return (f"Machine: {info.get('cpu')} ({info.get('cpu_cores')} logical cores{threads}), GPU: {gpus}; {libs}; "
            f"{info.get('date_utc')}")


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """``data`` as indented JSON at ``path`` (written to a temp file, then renamed)."""
    return atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n"))


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """A GitHub Markdown table. ``columns``: (key, header, format spec such as ``".1f"`` or ``""``)."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" if not fmt else "---:" for _, _, fmt in columns) + "|"]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("–" if value is None else format(value, fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_variants(
    path: str | Path,
    *,
    title: str,
    gmacs: Mapping[str, Mapping[str, float]] | None = None,
    latency_ms: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Bar charts per variant: GMACs stacked by part, and/or latency (median bar, p90 whisker).

    Args:
        gmacs: ``{variant: {"backbone": g, "decoder": g, "head": g}}`` in GMACs.
        latency_ms: ``{variant: {"median": ms, "p90": ms}}``.
    """
    matplotlib = import_optional("matplotlib", "pip install matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in (("gmacs", gmacs), ("latency", latency_ms)) if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.0), squeeze=False)
    for ax, (kind, data) in zip(axes[0], panels):
        names = list(data)
        if kind == "gmacs":
            bottom = [0.0] * len(names)
            for part, color in (("backbone", "#4c72b0"), ("decoder", "#dd8452"), ("head", "#55a868")):
                values = [data[n].get(part, 0.0) for n in names]
                ax.bar(names, values, bottom=bottom, label=part, color=color)
                bottom = [b + v for b, v in zip(bottom, values)]
            ax.set_ylabel("GMACs")
            ax.legend()
        else:
            med = [data[n]["median"] for n in names]
            err = [max(0.0, data[n]["p90"] - data[n]["median"]) for n in names]
            ax.bar(names, med, yerr=[[0.0] * len(names), err], capsize=4, color="#8172b3")
            ax.set_ylabel("latency, ms (median; whisker to p90)")
        ax.tick_params(axis="x", rotation=20)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()

    def save(p: Path) -> None:
        fig.savefig(p, dpi=110, format="png")

    try:
        return atomic_write(path, save)
    finally:
        plt.close(fig)
