#!/usr/bin/env bash
# The screen-scale evaluation of the within-group work: every (dataset, seed) job of JOBS, run by N workers of one
# thread each (2 cores: two single-threaded torch processes, never two unpinned ones).
#   bash benchmarks/within_group_screen.sh JOBS_FILE OUT_CSV [WORKERS]
# JOBS_FILE: lines "dataset seed variant..." ; finished jobs are marked in OUT_CSV.jobs, so a rerun resumes.
set -euo pipefail
jobs_file=$1; out=$2; workers=${3:-2}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
touch "$out.jobs"
worker() {
  while true; do
    line=$(flock "$out.lock" bash -c '
      while read -r l; do grep -qxF "$l" "'"$out"'.jobs" || { echo "$l" >> "'"$out"'.jobs"; echo "$l"; exit 0; }; done < "'"$jobs_file"'"')
    [ -z "$line" ] && return 0
    set -- $line
    python benchmarks/within_group_screen.py --dataset "$1" --seed "$2" --variants "${@:3}" --epochs 200 --out "$out" \
      > "$out.$1.$2.log" 2>&1 || echo "FAILED $line" >> "$out.failed"
  done
}
for _ in $(seq "$workers"); do worker & done
wait
