#!/usr/bin/env bash
# Transcription benchmark: walkie (warm, model loaded once in one process; and cold, one
# `walkie transcribe` command per file) next to whisper.cpp's CLI defaults (whisper_ref.cpp,
# built here from the whisper.cpp sources that whisper-rs-sys vendors; beam search 5) and
# the same program with greedy decoding (walkie's decoder settings, full 30 s window), same
# model, same thread count, same files, in one run. Prints a Markdown table for
# docs/PERFORMANCE.md. Words are compared after lower-casing and removing punctuation.
#
# usage: transcription/benches/compare.sh [--threads N] [--runs N] [--model PATH] [--load]
#   --load   run two busy loops (one per core on a 2-core machine) during the measurement,
#            like agents or a compile competing for the CPU.
# Needs: cmake, a C++ compiler, the release build of walkie (built here). Work files go to
# $BENCH_DIR (default /tmp/walkie-transcription-bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
THREADS=1
RUNS=3
MODEL=${WALKIE_MODEL:-$ROOT/../shared/models/ggml-tiny.en.bin}
LOAD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --load) LOAD=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
WORK=${BENCH_DIR:-/tmp/walkie-transcription-bench}
FIX=$ROOT/../shared/fixtures/voice
mkdir -p "$WORK/wav" "$WORK/data"

echo "building (release)..." >&2
cargo build --release -q -p walkie
cargo build --release -q -p walkie-transcription --example warm_bench --example to_wav
SRC=$(cargo metadata --format-version 1 2>/dev/null | python3 -c '
import json, sys, os
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "whisper-rs-sys":
        print(os.path.join(os.path.dirname(p["manifest_path"]), "whisper.cpp"))' | head -1)
if [ ! -x "$WORK/build/whisper_ref" ]; then
  cmake -S "$ROOT/transcription/benches" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DWHISPER_SRC="$SRC" >/dev/null
  cmake --build "$WORK/build" --target whisper_ref -j2 >/dev/null
fi
WALKIE=$ROOT/target/release/walkie
WARM=$ROOT/target/release/examples/warm_bench
TOWAV=$ROOT/target/release/examples/to_wav
REF=$WORK/build/whisper_ref

# Inputs: every speech fixture, and two 5 s notes made of two fixtures back to back
# (cancel + deploy_staging, 5.0 s; open_pr + approve, 4.8 s).
names=()
for f in "$FIX"/*.ogg; do
  n=$(basename "$f" .ogg)
  case "$n" in not_audio|silence) continue ;; esac
  "$TOWAV" "$WORK/wav/$n.wav" "$f"
  cp "$f" "$WORK/wav/$n.ogg"
  names+=("$n")
done
"$TOWAV" "$WORK/wav/note_5s.wav" "$FIX/cancel.ogg" "$FIX/deploy_staging.ogg"
cp "$WORK/wav/note_5s.wav" "$WORK/wav/note_5s.in.wav"
"$TOWAV" "$WORK/wav/note_5s_b.wav" "$FIX/open_pr.ogg" "$FIX/approve.ogg"
cp "$WORK/wav/note_5s_b.wav" "$WORK/wav/note_5s_b.in.wav"
names+=("note_5s" "note_5s_b")
input() { if [ -f "$WORK/wav/$1.ogg" ]; then echo "$WORK/wav/$1.ogg"; else echo "$WORK/wav/$1.in.wav"; fi; }

LOADPIDS=()
cleanup() { for p in "${LOADPIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ "$LOAD" = 1 ]; then
  for _ in 1 2; do ( while :; do :; done ) & LOADPIDS+=($!); done
fi

now() { date +%s%N; }
norm() { tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' ' ' | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'; }

# Warm: one process, model loaded once, minimum of $RUNS per file (decode + transcribe).
declare -A warm warm_text
while IFS=$'\t' read -r file audio best _ _ _ _ text; do
  [ "$file" = file ] && continue
  n=$(basename "$file"); n=${n%.ogg}; n=${n%.in.wav}
  warm[$n]=$best
  warm_text[$n]=$text
done < <("$WARM" --model "$MODEL" --threads "$THREADS" --runs "$RUNS" $(for n in "${names[@]}"; do input "$n"; done) 2>/dev/null)

# Cold walkie and whisper_ref, interleaved run by run so both see the same machine.
declare -A cold ref ref_text refg refg_text dur
for n in "${names[@]}"; do
  best_c=999999; best_r=999999; best_g=999999
  for _ in $(seq "$RUNS"); do
    t0=$(now)
    WALKIE_DATA_DIR=$WORK/data "$WALKIE" transcribe --model "$MODEL" --threads "$THREADS" "$(input "$n")" >/dev/null 2>&1
    t1=$(now)
    out=$("$REF" -m "$MODEL" -t "$THREADS" "$WORK/wav/$n.wav" 2>/dev/null)
    t2=$(now)
    outg=$("$REF" -g -m "$MODEL" -t "$THREADS" "$WORK/wav/$n.wav" 2>/dev/null)
    t3=$(now)
    c=$(( (t1 - t0) / 1000000 )); r=$(( (t2 - t1) / 1000000 )); g=$(( (t3 - t2) / 1000000 ))
    [ "$c" -lt "$best_c" ] && best_c=$c
    [ "$r" -lt "$best_r" ] && best_r=$r
    [ "$g" -lt "$best_g" ] && best_g=$g
  done
  cold[$n]=$best_c; ref[$n]=$best_r; ref_text[$n]=$out; refg[$n]=$best_g; refg_text[$n]=$outg
  dur[$n]=$(python3 -c "import os; print(round((os.path.getsize('$WORK/wav/$n.wav') - 44) / 32000, 2))")
done

echo "threads=$THREADS runs=$RUNS load=$LOAD model=$(basename "$MODEL") $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| note | audio s | walkie warm s | walkie cold s | CLI s | CLI greedy s | warm / CLI | cold / CLI | warm / CLI greedy | RTF warm | words vs CLI | words vs CLI greedy |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${names[@]}"; do
  w=${warm[$n]:-nan}; c=$(python3 -c "print(${cold[$n]}/1000)"); r=$(python3 -c "print(${ref[$n]}/1000)"); g=$(python3 -c "print(${refg[$n]}/1000)")
  a=$(echo "${warm_text[$n]:-}" | norm); b=$(echo "${ref_text[$n]}" | norm); bg=$(echo "${refg_text[$n]}" | norm)
  python3 - "$n" "${dur[$n]}" "$w" "$c" "$r" "$g" "$a" "$b" "$bg" <<'EOF'
import sys
n, d, w, c, r, g, a, b, bg = sys.argv[1:]
d, w, c, r, g = float(d), float(w), float(c), float(r), float(g)
def diff(x, y):
    if x == y:
        return "same"
    only = [f"{p}/{q}" for p, q in zip(x.split(), y.split()) if p != q][:3]
    return "differ: " + ", ".join(only) if only else "differ"
print(f"| {n} | {d:.2f} | {w:.2f} | {c:.2f} | {r:.2f} | {g:.2f} | {w/r:.2f} | {c/r:.2f} | {w/g:.2f} | {w/d:.3f} | {diff(a, b)} | {diff(a, bg)} |")
EOF
done
