#!/usr/bin/env bash
# `trt-panoptic run` end to end on one synthetic 720x1280 clip, code at BEFORE (a commit) against the working
# tree, both backends, two interleaved rounds; prints throughput and per-stage p50 latencies from --stats.
#
#   bash benchmarks/run_before_after.sh BEFORE [FRAMES]
#
# Needs the project's virtualenv active (the same packages serve both checkouts: BEFORE runs from a git
# worktree through PYTHONPATH).
set -euo pipefail
before=${1:?usage: run_before_after.sh BEFORE_COMMIT [FRAMES]}
frames=${2:-40}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'git worktree remove --force "$work/before" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q "$work/before" "$before"
trt-panoptic data synth-video --out "$work/clip.mp4" --frames "$frames" --size 720x1280 --seed 3 >/dev/null 2>&1
for round in 1 2; do
  for which in before after; do
    for backend in onnxruntime torch; do
      stats="$work/stats_${which}_${backend}_${round}.json"
      if [ "$which" = before ]; then pp="$work/before"; else pp="$PWD"; fi
      PYTHONPATH="$pp" python -m trt_panoptic.cli.main run --source "$work/clip.mp4" --backend "$backend" \
        --height 256 --width 256 --output "$work/out.mp4" --stats "$stats" --no-progress >/dev/null 2>&1
      python - "$stats" "$which" "$backend" "$round" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p50 = {k: round(v["p50"], 1) for k, v in d["latency_ms"].items() if isinstance(v, dict) and "p50" in v}
print(f"round {sys.argv[4]} | {sys.argv[2]} | {sys.argv[3]} | {d['throughput_fps']:.2f} FPS | p50 ms {p50}")
PY
    done
  done
done
