#!/usr/bin/env bash
# Create a virtual environment with the pinned CPU stack and install the
# plugin into it (editable). Safe to run again: installed pins are kept.
#
#   bash tools/setup_env.sh            # runtime only
#   bash tools/setup_env.sh --tests    # plus the test requirements
#
# Environment: PYTHON (default python3.11), VENV (default .venv),
# TORCH_INDEX_URL (optional index for torch, e.g. the CPU or a CUDA index of
# download.pytorch.org; by default pip's configured indexes are used).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
WITH_TESTS=0
for arg in "$@"; do
  case "$arg" in
    --tests) WITH_TESTS=1 ;;
    *) echo "setup_env.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }

# 1. torch first and pinned: an open range would pull a multi-GB CUDA build.
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  pip_install torch==2.13.0 --index-url "$TORCH_INDEX_URL"
else
  pip_install torch==2.13.0
fi
# 2. everything the OpenMMLab packages import, with one OpenCV build.
requirements=(-r requirements/runtime.txt)
if [ "$WITH_TESTS" = 1 ]; then requirements+=(-r requirements/tests.txt); fi
pip_install "${requirements[@]}"
# 3. mmengine, mmcv-lite, mmaction2 without their declared dependencies
#    (they would add opencv-python and opencv-contrib-python over cv2/).
pip_install --no-deps -r requirements/openmmlab.txt
# 4. the plugin itself.
pip_install --no-deps --no-build-isolation -e .
# 5. tests only: torchvision's video models, the reference of the weight
#    converter, in a folder of their own that only the tests put on sys.path
#    (see requirements/torchvision.txt; kept when already there).
if [ "$WITH_TESTS" = 1 ]; then
  torchvision_pin=$(grep -o '^torchvision==[^ ]*' requirements/torchvision.txt)
  if [ ! -d "$VENV/torchvision/torchvision-${torchvision_pin#*==}.dist-info" ]; then
    pip_install --no-deps --upgrade --target "$VENV/torchvision" \
      -r requirements/torchvision.txt
  fi
fi

"$VENV/bin/python" -c "import hprotopnet_mm, mmaction.models, torch; \
print('hprotopnet_mm', hprotopnet_mm.__version__, '| torch', torch.__version__)"
