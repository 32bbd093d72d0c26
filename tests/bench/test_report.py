"""Benchmark reports: machine info, atomic JSON/text writes, Markdown tables, PNG plots."""
from __future__ import annotations

import json
import os

from trt_panoptic.bench.report import machine_info, machine_line, markdown_table, plot_variants, write_json


def test_machine_info_names_cpu_cores_gpus_and_versions():
    info = machine_info()
    assert info["cpu"] and info["cpu_cores"] == os.cpu_count()
    assert isinstance(info["gpus"], list)
    assert info["versions"]["torch"] and info["versions"]["python"]
    line = machine_line(info)
    assert line.startswith("Machine: ") and f"{os.cpu_count()} logical cores" in line


def test_write_json_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2, "b": [1.5]})
    assert json.loads(path.read_text()) == {"a": 2, "b": [1.5]}
    assert os.listdir(path.parent) == ["r.json"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_markdown_table_formats_right_aligns_numbers_and_marks_missing():
    table = markdown_table(
        [{"name": "fpn", "g": 507.26, "r": 1.0}, {"name": "resnet", "g": 326.1}],
        [("name", "variant", ""), ("g", "GMACs", ".1f"), ("r", "× FPN", ".2f")],
    )
    assert table.splitlines() == [
        "| variant | GMACs | × FPN |",
        "|---|---:|---:|",
        "| fpn | 507.3 | 1.00 |",
        "| resnet | 326.1 | – |",
    ]


def test_plot_variants_writes_a_png_with_one_or_two_panels(tmp_path):
    gmacs = {"fpn": {"backbone": 1.0, "decoder": 0.5, "head": 0.2}, "dilated8": {"backbone": 3.0, "head": 0.4}}
    latency = {"fpn": {"median": 10.0, "p90": 12.0}, "dilated8": {"median": 25.0, "p90": 24.0}}
    for kwargs in ({"gmacs": gmacs}, {"gmacs": gmacs, "latency_ms": latency}):
        path = plot_variants(tmp_path / "p.png", title="t", **kwargs)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
