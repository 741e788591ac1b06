#!/usr/bin/env bash
# The example task end to end, as a newcomer would use it: install it beside an environment that has suite, then
# run two configurations, compare them, write a report and predict with a saved model.
#
#   examples/pair_task/run_end_to_end.sh [PYTHON] [WORK_DIR]
#
# PYTHON: the interpreter of an environment where suite is installed (default: python). WORK_DIR (default: a new
# temporary folder) receives everything: the package installed under site/ (that environment's site-packages are
# not touched: PYTHONPATH points at site/), the store pairs.db, the report under report/. Any earlier run's files
# there are replaced.
set -euo pipefail

PY="${1:-python}"
WORK="${2:-$(mktemp -d)}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
STORE="$WORK/pairs.db"
rm -rf "$WORK/src" "$WORK/site" "$WORK/report" "$STORE" "$STORE".*

step() { printf '\n== %s\n' "$*" >&2; }
suite() { "$PY" -m suite "$@"; }  # the interpreter given, not whichever `suite` is first on PATH

step "install the example into $WORK/site"
# Built from a copy: setuptools writes build/ and an .egg-info into the folder it builds.
cp -R "$HERE" "$WORK/src"
install=(--quiet --no-deps --target "$WORK/site")
# First with the environment's own setuptools (no package index needed); where it has none, or one too old to
# build a wheel by itself (setuptools < 70.1 without `wheel`), pip fetches setuptools from the configured index.
if ! "$PY" -m pip install "${install[@]}" --no-build-isolation "$WORK/src" 2>"$WORK/pip.log"; then
    echo "could not build with the environment's setuptools ($WORK/pip.log); building in isolation" >&2
    rm -rf "$WORK/site"
    "$PY" -m pip install "${install[@]}" "$WORK/src"
fi
export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "from importlib.metadata import entry_points
assert 'pairs' in entry_points(group='suite.tasks').names, 'the pairs entry point was not installed'"

# The models are tiny: one thread each is fastest, and threads competing for busy cores make rounds many times slower.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
cd "$WORK"  # ./results, ./data and the like, if anything looks for them, are the work folder's
step "suite run pairs: two configurations, three rounds each"
suite run pairs --preset siamese --rounds 3 --quiet --store "$STORE" --save-models final
suite run pairs --preset concat --rounds 3 --quiet --store "$STORE"

step "suite compare --task pairs"
suite compare --task pairs --store "$STORE"

step "suite report --task pairs"
suite report --task pairs --store "$STORE" --out "$WORK/report"
test -s "$WORK/report/report.md"
test -s "$WORK/report/report.html"

step "suite predict pairs: four new pairs, with the saved model of round 0 of experiment 1"
"$PY" -c "import sys, numpy, torch
from suite_example_pairs.data import draw_pairs
from suite_example_pairs.task import PairsConfig
c = PairsConfig()  # raw vectors as a round of the default config draws them, from prototypes of their own
pairs = draw_pairs(4, c.classes, c.dim, c.noise, torch.Generator().manual_seed(12345))
numpy.save(sys.argv[1], pairs['x'].numpy()); print('their targets (1: same):', pairs['target'].tolist())" \
    "$WORK/new_pairs.npy"
suite predict pairs --experiment 1 --round 0 --store "$STORE" "$WORK/new_pairs.npy"

step "done: $WORK/report/report.md and report.html"
