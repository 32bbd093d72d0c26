#!/usr/bin/env bash
# GPU + TensorRT end to end: export → build fp16 / int8 → eval PQ against ONNX Runtime → latency.
#
# Runs only where TensorRT's Python bindings, a CUDA binding (cuda-python or pycuda) and an NVIDIA GPU
# exist; anywhere else it prints "SKIP: <reason>" and exits 0. Uses the documented commands of the other
# stages (trt-panoptic data synth / export / calibrate / build / eval) on the bundled model; latency through
# trt_panoptic.engine.runner.TrtRunner (stream and CUDA graph) and, when on PATH, trtexec --loadEngine.
#
#   bash benchmarks/trt_e2e.sh                       # 512x512, 50 synthetic validation images
#   H=1024 W=1024 NUM_IMAGES=100 OUT=/tmp/e2e bash benchmarks/trt_e2e.sh
#   PLUGIN_LIB=/path/libtrt_panoptic_plugins.so bash benchmarks/trt_e2e.sh
#
# Results: $OUT/summary.json and $OUT/summary.md (PQ per backend/precision, latency), plus every step's JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
H=${H:-512}
W=${W:-512}
NUM_IMAGES=${NUM_IMAGES:-50}
CALIB_IMAGES=${CALIB_IMAGES:-64}
OUT=${OUT:-benchmarks/results/trt_e2e}
TP=(${TRT_PANOPTIC:-$PY -m trt_panoptic.cli.main})

skip() { echo "SKIP: $*"; exit 0; }
step() { echo; echo "=== $*"; }

"$PY" -c "import tensorrt" 2>/dev/null || skip "TensorRT Python bindings are not installed (pip install tensorrt, or JetPack's python3-libnvinfer)"
"$PY" -c "import cuda.bindings.runtime" 2>/dev/null || "$PY" -c "import cuda.cudart" 2>/dev/null \
  || "$PY" -c "import pycuda.driver" 2>/dev/null || skip "no CUDA binding: pip install cuda-python (or pycuda)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi -L >/dev/null 2>&1 || skip "nvidia-smi sees no GPU"
elif [ ! -e /dev/nvhost-ctrl-gpu ] && [ ! -e /dev/nvidia0 ]; then  # Jetson has no nvidia-smi on older JetPacks
  skip "no NVIDIA GPU visible"
fi
TRT_VERSION=$("$PY" -c "import tensorrt; print(tensorrt.__version__)")
mkdir -p "$OUT"
echo "TensorRT $TRT_VERSION, ${H}x${W}, $NUM_IMAGES images, results in $OUT"

step "plugins"
PLUGIN=${PLUGIN_LIB:-}
if [ -z "$PLUGIN" ]; then
  "$PY" -m trt_panoptic.plugins build
  PLUGIN=$(find . -name libtrt_panoptic_plugins.so -newer setup.py -print -quit 2>/dev/null || true)
  [ -n "$PLUGIN" ] || PLUGIN=$(find . -name libtrt_panoptic_plugins.so -print -quit)
fi
[ -f "$PLUGIN" ] || { echo "error: libtrt_panoptic_plugins.so not found (set PLUGIN_LIB)"; exit 1; }
echo "plugin library: $PLUGIN"

step "data: synthetic validation set (unseen seed)"
"${TP[@]}" data synth --out "$OUT/data" --num-images "$NUM_IMAGES" --seed 9173 --size "${H}x${W}"

step "export: portable (ONNX Runtime reference), TensorRT flavour, FP16-typed TensorRT flavour"
"${TP[@]}" export --height "$H" --width "$W" --out "$OUT/model.onnx"
"${TP[@]}" export --flavor tensorrt --height "$H" --width "$W" --out "$OUT/model.trt.onnx"
# opset 19: QuantizeLinear/DequantizeLinear take FP16 there, so the INT8 model below keeps FP16 elsewhere
"${TP[@]}" export --flavor tensorrt --fp16 --opset 19 --height "$H" --width "$W" --out "$OUT/model.trt.fp16.onnx"

step "calibrate: INT8+FP16 Q/DQ ONNX from the FP16-typed export (+ a cache for the 10.x legacy path)"
"${TP[@]}" calibrate --onnx "$OUT/model.trt.fp16.onnx" --data "$OUT/data" --method mse \
  --num-images "$CALIB_IMAGES" --out "$OUT/model.trt.int8.onnx"
"${TP[@]}" calibrate --onnx "$OUT/model.trt.onnx" --data "$OUT/data" --method mse \
  --num-images "$CALIB_IMAGES" --out "$OUT/model.trt.int8fp32.onnx" --cache "$OUT/calib.cache"

step "build fp16 and int8 engines (TensorRT $TRT_VERSION)"
# Both majors build FP16 from the FP16-typed graph, strongly typed: box math, NMS, RoIs and GroupNorm stay
# FP32 on 10.x exactly as on 11.x (an FP32 graph with BuilderFlag.FP16 would let TensorRT pick FP16 anywhere).
FP16_ONNX="$OUT/model.trt.fp16.onnx"
for P in fp16 int8; do
  if [ "$P" = fp16 ]; then SRC=$FP16_ONNX; else SRC="$OUT/model.trt.int8.onnx"; fi
  START=$SECONDS
  "${TP[@]}" build --onnx "$SRC" --precision "$P" --out "$OUT/model.$P.engine" \
    --plugins "$PLUGIN" --timing-cache "$OUT/timing.cache" 2>&1 | tee "$OUT/build_$P.log"
  echo "build $P: $((SECONDS - START)) s" | tee -a "$OUT/build_$P.log"
done

step "eval: PQ of ONNX Runtime (portable FP32) and TensorRT fp16 / int8 on the same images"
"${TP[@]}" eval --data "$OUT/data" --backend onnxruntime --model "$OUT/model.onnx" --json "$OUT/eval_onnxruntime_fp32.json"
for P in fp16 int8; do
  "${TP[@]}" eval --data "$OUT/data" --backend tensorrt --model "$OUT/model.$P.engine" --json "$OUT/eval_tensorrt_$P.json"
done

step "latency: the panoptic engines through TrtRunner (host copies included) and trtexec (GPU compute)"
# (`trt-panoptic bench latency` times the backbone variants, not this engine; trtexec gives NVIDIA's split.)
for P in fp16 int8; do
  "$PY" - "$OUT/model.$P.engine" "$OUT/latency_tensorrt_$P.json" "${ITERATIONS:-200}" <<'PYEOF'
import json, sys, time
import numpy as np
from trt_panoptic.engine.runner import TrtRunner

engine, out, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
result = {}
for graph in (False, True):
    with TrtRunner(engine, cuda_graph=graph) as runner:
        feeds = {s.name: rng.integers(0, 256, s.shape).astype(s.dtype) if s.dtype == np.uint8
                 else rng.standard_normal(s.shape).astype(s.dtype) for s in runner.inputs}
        for _ in range(20):
            runner.run(feeds)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            runner.run(feeds)
            times.append((time.perf_counter() - start) * 1e3)
    t = np.asarray(times)
    result["cuda_graph" if graph else "stream"] = {
        "mean_ms": float(t.mean()), "p50_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)),
        "p99_ms": float(np.percentile(t, 99)), "min_ms": float(t.min()), "throughput_img_s": float(1e3 / t.mean()),
        "iterations": iterations,
    }
json.dump(result, open(out, "w"), indent=2)
print(engine, {k: round(v["p50_ms"], 3) for k, v in result.items()}, "ms p50")
PYEOF
done
if command -v trtexec >/dev/null 2>&1; then  # NVIDIA's own numbers on the same engines, for comparison
  for P in fp16 int8; do
    trtexec --loadEngine="$OUT/model.$P.engine" --dynamicPlugins="$PLUGIN" --duration=10 \
      --exportTimes="$OUT/trtexec_times_$P.json" > "$OUT/trtexec_$P.log" 2>&1 \
      || echo "trtexec $P failed: see $OUT/trtexec_$P.log"
  done
fi

step "summary"
"$PY" - "$OUT" "$TRT_VERSION" <<'PYEOF'
import json, sys
from pathlib import Path

out, version = Path(sys.argv[1]), sys.argv[2]

def find(obj, keys):
    """First value under any of ``keys`` (searched depth-first): the eval/bench JSON layouts may nest them."""
    if isinstance(obj, dict):
        for k in keys:
            if k in obj and isinstance(obj[k], (int, float)):
                return obj[k]
        for v in obj.values():
            hit = find(v, keys)
            if hit is not None:
                return hit
    return None

rows = []
for name in ("onnxruntime_fp32", "tensorrt_fp16", "tensorrt_int8"):
    ev = out / f"eval_{name}.json"
    lat = out / f"latency_{name}.json"
    pq = find(json.loads(ev.read_text()), ("PQ", "pq")) if ev.exists() else None
    p50 = find(json.loads(lat.read_text()), ("p50_ms",)) if lat.exists() else None
    rows.append({"run": name, "PQ": pq, "latency_p50_ms": p50})
ref = rows[0]["PQ"]
for r in rows:
    r["PQ_drop_vs_onnxruntime"] = None if ref is None or r["PQ"] is None else round(ref - r["PQ"], 3)
summary = {"tensorrt": version, "rows": rows}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
lines = [f"TensorRT {version}", "", "| run | PQ | PQ drop vs ORT | p50 latency (ms) |", "|---|---|---|---|"]
lines += [f"| {r['run']} | {r['PQ']} | {r['PQ_drop_vs_onnxruntime']} | {r['latency_p50_ms']} |" for r in rows]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
