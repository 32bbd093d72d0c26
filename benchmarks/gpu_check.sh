#!/usr/bin/env bash
# GPU check of the trt_panoptic plugin kernels and the torch-cudagraph path (a few minutes): builds the kernels with nvcc, runs them on the
# GPU against PyTorch CUDA (random inputs, edge RoIs, FP32 and FP16), times them against the PyTorch
# equivalents and prints a Markdown table. Extra arguments go to benchmarks/gpu/check_plugins.py
# (e.g. --iters 20 --json benchmarks/results/gpu_check.json).
#
# Needs: nvcc, a CUDA GPU, PyTorch with CUDA. No TensorRT. $PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu_check: nvidia-smi not found: no GPU here" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader

# SASS for Orin/Ada/Hopper plus this GPU's own arch (PTX of sm_90 cannot run on older GPUs).
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d ' .')
archs="87,89,90"
case ",$archs," in *",$cc,"*) ;; *) archs="$cc,$archs" ;; esac

start=$(date +%s)
"$py" -m trt_panoptic.plugins build --direct --cuda-archs "$archs"
echo "build: $(( $(date +%s) - start )) s"

"$py" benchmarks/gpu/check_plugins.py --device cuda "$@"

# The torch-cudagraph path: sync-free check, equality with the exact twin, timings, end-to-end runs.
"$py" benchmarks/gpu_cudagraph.py --out "${CUDAGRAPH_OUT:-benchmarks/results/gpu_cudagraph.json}"
