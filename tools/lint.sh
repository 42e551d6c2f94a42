#!/usr/bin/env bash
# Check the style of every tracked Python file with the settings of
# setup.cfg, as MMAction2 does: import order (isort), formatting (yapf) and
# errors and style (flake8). Prints what each would change or reports, runs
# all three, and exits non-zero if any of them fails.
#
#   bash tools/lint.sh            # check
#
# Fix what isort and yapf report with
#   .venv/bin/python -m isort $(git ls-files '*.py')
#   .venv/bin/python -m yapf -i $(git ls-files '*.py')
# Environment: PY (default .venv/bin/python; the linters are pinned in
# requirements/tests.txt, yapf in requirements/runtime.txt).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mapfile -t files < <(git ls-files '*.py')
status=0
echo "== isort --check-only --diff"
"$PY" -m isort --check-only --diff "${files[@]}" || status=1
echo "== yapf --diff"
"$PY" -m yapf --diff "${files[@]}" || status=1
echo "== flake8"
"$PY" -m flake8 "${files[@]}" || status=1
if [ "$status" = 0 ]; then echo "lint: all clean"; else echo "lint: FAILED" >&2; fi
exit "$status"
