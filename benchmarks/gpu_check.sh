#!/usr/bin/env bash
# The GPU checks of issue 9, as one short script for a lent GPU machine (see benchmarks/README.md).
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]
#
# 1. generator throughput per model and resolution, fp32 on the CPU and fp16 on CUDA (batch 1,
#    each image waited for), interleaved rounds;
# 2. the loop's figures with the generator on the GPU (run_all.py, device auto = CUDA):
#    latency overhead, stale ratio, freshness, contention, perception ratio.
# Results land in OUT_DIR (default: $OUT, else benchmarks/results/gpu). Installs nothing: run it
# from a checkout whose .venv already has the pinned packages (a CUDA build of torch).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-benchmarks/results/gpu}}"
mkdir -p "$out"
python=".venv/bin/python"
[ -x "$python" ] || python=python3
export SDL_VIDEODRIVER=dummy
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$out/device.txt"
"$python" benchmarks/generator_throughput.py --seconds 1 --rounds 3 --out "$out/generator_throughput.json" 2>&1 | tail -40
"$python" benchmarks/run_all.py --quick --out "$out/results.json" 2>&1 | tail -20
