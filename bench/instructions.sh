#!/usr/bin/env bash
# Instructions per request of one hot path, in process (bench/inprocess.py under valgrind's
# cachegrind): Ir of LOW+DIFF requests minus Ir of LOW requests, divided by DIFF. Deterministic to
# within about 0.2 %, whatever else the host runs; about a minute per path.
#   bench/instructions.sh validate|refresh|login|issue [LOW=50] [DIFF=100]
# Seeds bench_inprocess first when var/bench_inprocess.json is missing (bench/inprocess.py).
set -euo pipefail
cd "$(dirname "$0")/.."
path=${1:?validate, refresh, login or issue}; low=${2:-50}; diff=${3:-100}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 2; }
[ -f var/bench_inprocess.json ] || .venv/bin/python bench/inprocess.py "$path" --blocks 1 --requests 10 >/dev/null
ir() {
    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        .venv/bin/python bench/inprocess.py "$path" --reuse --only "$1" 2>&1 \
        | awk '/I[[:space:]]+refs/ {gsub(",", "", $NF); print $NF}'
}
a=$(ir "$low"); b=$(ir $((low + diff)))
echo "$path: $(( (b - a) / diff )) instructions per request (Ir $a for $low, $b for $((low + diff)))"
