#!/usr/bin/env bash
# Transcription benchmark: walkie (warm, model loaded once in one process; and cold, one
# `walkie transcribe` command per file) next to whisper.cpp's own command-line program,
# whisper-cli, with its default settings (beam search 5, best-of 5, full 30 s window), same
# model, same thread count, same files, in one run; and both again with greedy decoding
# (walkie --beam-size 1, whisper-cli -bs 1). Prints a Markdown table for
# docs/PERFORMANCE.md. Words are compared after lower-casing and removing punctuation.
#
# whisper-cli is built from whisper.cpp's own sources: whisper-rs-sys vendors the library
# (whisper.cpp 1.8.3) without examples/, so examples/ (cli.cpp and its helpers) comes from
# the whisper.cpp tree bundled in the PyPI sdist pywhispercpp 1.5.1 (whisper.cpp 1.8.5,
# pinned by sha256; same whisper.h except two new VAD calls the CLI does not use) and is
# built against the vendored 1.8.3 library with whisper-rs-sys's options (static, no
# OpenMP, native CPU flags, Release). Four `case` labels for quantization types that
# ggml 1.8.3 lacks are deleted from examples/common-ggml.cpp (model quantization code; the
# CLI never calls it). Everything else is whisper.cpp's code, unmodified.
#
# usage: transcription/benches/compare.sh [--threads N] [--runs N] [--model PATH] [--load] [--names]
#   --load   run two busy loops (one per core on a 2-core machine) during the measurement,
#            like agents or a compile competing for the CPU.
#   --names  instead: session names. The 3 s run_tests note and the notes of
#            tests/fixtures/voice (a session name at the start, or a name that must not
#            route), warm, transcribed with the names matched after transcription (no
#            prompt, the bot's default) and with them in the prompt as well (the full
#            window), next to whisper-cli without and with the same prompt: time, the
#            session each routes to, and the words against the CLI's.
# Needs: cmake, a C++ compiler, curl, and files.pythonhosted.org once (the sdist is kept).
# Work files go to $BENCH_DIR (default /tmp/walkie-transcription-bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
THREADS=1
RUNS=3
MODEL=${WALKIE_MODEL:-$ROOT/../shared/models/ggml-tiny.en.bin}
LOAD=0
NAMES=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --load) LOAD=1; shift ;;
    --names) NAMES=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
WORK=${BENCH_DIR:-/tmp/walkie-transcription-bench}
FIX=$ROOT/../shared/fixtures/voice
mkdir -p "$WORK/wav" "$WORK/data"

echo "building (release)..." >&2
[ "$NAMES" = 1 ] || cargo build --release -q -p walkie
cargo build --release -q -p walkie-transcription --example warm_bench --example to_wav
SRC=$(cargo metadata --format-version 1 2>/dev/null | python3 -c '
import json, sys, os
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "whisper-rs-sys":
        print(os.path.join(os.path.dirname(p["manifest_path"]), "whisper.cpp"))' | head -1)
SDIST=$WORK/pywhispercpp-1.5.1.tar.gz
SDIST_URL=https://files.pythonhosted.org/packages/9f/35/610787a277e177e6b7983277a35a2969c0876b46c0d889bc6a0c4b4ac4a7/pywhispercpp-1.5.1.tar.gz
SDIST_SHA256=5df897e5dd9d9f16804fc937bd85b9f5880a0b29a55f8843585e0e03d76195e5
CLI=$WORK/cli-build/bin/whisper-cli
if [ ! -x "$CLI" ]; then
  echo "building whisper-cli..." >&2
  if ! echo "$SDIST_SHA256  $SDIST" | sha256sum -c --status 2>/dev/null; then
    curl -fsSL -o "$SDIST" "$SDIST_URL"
    echo "$SDIST_SHA256  $SDIST" | sha256sum -c --status
  fi
  rm -rf "$WORK/whisper.cpp" "$WORK/cli-build"
  cp -r "$SRC" "$WORK/whisper.cpp"
  chmod -R u+w "$WORK/whisper.cpp"
  tar -xzf "$SDIST" -C "$WORK/whisper.cpp" --strip-components=2 \
    pywhispercpp-1.5.1/whisper.cpp/examples
  sed -i '/GGML_FTYPE_MOSTLY_NVFP4\|GGML_FTYPE_MOSTLY_Q1_0\|GGML_TYPE_NVFP4:\|GGML_TYPE_Q1_0:/d' \
    "$WORK/whisper.cpp/examples/common-ggml.cpp"
  cmake -S "$WORK/whisper.cpp" -B "$WORK/cli-build" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DGGML_OPENMP=OFF -DWHISPER_BUILD_EXAMPLES=ON \
    -DWHISPER_BUILD_TESTS=OFF -DWHISPER_SDL2=OFF >"$WORK/cli-build.log" 2>&1
  cmake --build "$WORK/cli-build" --target whisper-cli -j2 >>"$WORK/cli-build.log" 2>&1 \
    || { echo "whisper-cli build failed; see $WORK/cli-build.log" >&2; exit 1; }
fi
WALKIE=$ROOT/target/release/walkie
WARM=$ROOT/target/release/examples/warm_bench
TOWAV=$ROOT/target/release/examples/to_wav

# Inputs: every speech fixture, and two 5 s notes made of two fixtures back to back
# (cancel + deploy_staging, 5.0 s; open_pr + approve, 4.8 s). whisper-cli reads the same
# audio as 16 kHz 16-bit WAV (it does not decode Opus).
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
# whisper-cli prints one "[start --> end]   text" line per segment on stdout.
cli() { "$CLI" -m "$MODEL" -t "$THREADS" "$@" 2>/dev/null | sed 's/^\[[^]]*\] *//'; }

# Warm: one process, model loaded once, minimum of $RUNS per file (decode + transcribe);
# once with walkie's default decoder (beam search 5), once greedy.
declare -A warm warm_text warmg warmg_text
mapfile -t files < <(for n in "${names[@]}"; do input "$n"; done)
# warm_run TIMES TEXTS SESSIONS [warm_bench options]: fills the three arrays named, by note.
warm_run() {
  local -n times=$1 texts=$2 sessions=$3
  shift 3
  local file best session text n
  while IFS=$'\t' read -r file _ best _ _ _ _ session text; do
    [ "$file" = file ] && continue
    n=$(basename "$file"); n=${n%.ogg}; n=${n%.in.wav}
    times[$n]=$best; texts[$n]=$text; sessions[$n]=$session
  done < <("$WARM" --model "$MODEL" --threads "$THREADS" --runs "$RUNS" "$@" "${files[@]}" 2>/dev/null)
}

if [ "$NAMES" = 1 ]; then
  NFIX=$ROOT/tests/fixtures/voice
  # The sessions of the name fixtures; the prompt is walkie's for them (initial_prompt).
  SESSIONS=backend,frontend,api,test,web2
  PROMPT="${SESSIONS//,/, }."
  declare -A meant=([run_tests]=-)
  names=(run_tests)
  while IFS=$'\t' read -r f _ _ session _; do
    [ "$f" = file ] && continue
    n=${f%.ogg}
    "$TOWAV" "$WORK/wav/$n.wav" "$NFIX/$f"
    cp "$NFIX/$f" "$WORK/wav/$n.ogg"
    names+=("$n"); meant[$n]=${session:--}
  done < "$NFIX/manifest.tsv"
  mapfile -t files < <(for n in "${names[@]}"; do input "$n"; done)
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  declare -A plain plain_text plain_sess prm prm_text prm_sess ref ref_text refp refp_text dur
  warm_run plain plain_text plain_sess --names "$SESSIONS"
  warm_run prm prm_text prm_sess --names "$SESSIONS" --prompt-names
  for n in "${names[@]}"; do
    best_r=999999; best_p=999999
    for _ in $(seq "$RUNS"); do
      t0=$(now); out=$(cli "$WORK/wav/$n.wav"); t1=$(now)
      outp=$(cli --prompt "$PROMPT" "$WORK/wav/$n.wav"); t2=$(now)
      r=$(( (t1 - t0) / 1000000 )); p=$(( (t2 - t1) / 1000000 ))
      [ "$r" -lt "$best_r" ] && best_r=$r
      [ "$p" -lt "$best_p" ] && best_p=$p
    done
    ref[$n]=$best_r; ref_text[$n]=$out; refp[$n]=$best_p; refp_text[$n]=$outp
    dur[$n]=$(python3 -c "import os; print(round((os.path.getsize('$WORK/wav/$n.wav') - 44) / 32000, 2))")
  done
  echo "names: threads=$THREADS runs=$RUNS load=$LOAD model=$(basename "$MODEL") $(nproc) cores, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after, $(date -u +%Y-%m-%dT%H:%MZ); sessions $SESSIONS"
  echo
  echo "| note | audio s | no prompt s | prompt s | CLI s | no prompt / CLI | prompt / no prompt | meant | no prompt routes | prompt routes | words vs CLI | prompt: words vs CLI --prompt |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for n in "${names[@]}"; do
    python3 - "$n" "${dur[$n]}" "${plain[$n]:-nan}" "${prm[$n]:-nan}" "${ref[$n]}" "${meant[$n]}" \
      "${plain_sess[$n]:--}" "${prm_sess[$n]:--}" \
      "$(echo "${plain_text[$n]:-}" | norm)" "$(echo "${ref_text[$n]}" | norm)" \
      "$(echo "${prm_text[$n]:-}" | norm)" "$(echo "${refp_text[$n]}" | norm)" <<'PY'
import sys
n, d, w, p, r, meant, ws, ps, a, b, ap, bp = sys.argv[1:]
d, w, p, r = float(d), float(w), float(p), int(r) / 1000
def diff(x, y):
    if x == y:
        return "same"
    only = [f"{u}/{v}" for u, v in zip(x.split(), y.split()) if u != v][:3]
    return "differ: " + ", ".join(only) if only else "differ"
def routed(s):
    return s + (" ✓" if s == meant else " ✗")
print(f"| {n} | {d:.2f} | {w:.2f} | {p:.2f} | {r:.2f} | {w/r:.2f} | {p/w:.2f} | {meant} | {routed(ws)} | {routed(ps)} | {diff(a, b)} | {diff(ap, bp)} |")
PY
  done
  exit 0
fi
declare -A warm_sess warmg_sess
warm_run warm warm_text warm_sess
warm_run warmg warmg_text warmg_sess --beam-size 1

# Cold walkie and whisper-cli (default, then greedy), interleaved run by run so all see
# the same machine.
declare -A cold ref ref_text refg refg_text dur
for n in "${names[@]}"; do
  best_c=999999; best_r=999999; best_g=999999
  for _ in $(seq "$RUNS"); do
    t0=$(now)
    WALKIE_DATA_DIR=$WORK/data "$WALKIE" transcribe --model "$MODEL" --threads "$THREADS" "$(input "$n")" >/dev/null 2>&1
    t1=$(now)
    out=$(cli "$WORK/wav/$n.wav")
    t2=$(now)
    outg=$(cli -bs 1 "$WORK/wav/$n.wav")
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
echo "| note | audio s | walkie warm s | walkie cold s | CLI s | warm / CLI | cold / CLI | RTF warm | words vs CLI | greedy: walkie warm s | greedy: CLI s | greedy: warm / CLI | greedy: words |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${names[@]}"; do
  a=$(echo "${warm_text[$n]:-}" | norm); b=$(echo "${ref_text[$n]}" | norm)
  ag=$(echo "${warmg_text[$n]:-}" | norm); bg=$(echo "${refg_text[$n]}" | norm)
  python3 - "$n" "${dur[$n]}" "${warm[$n]:-nan}" "${cold[$n]}" "${ref[$n]}" "${warmg[$n]:-nan}" "${refg[$n]}" "$a" "$b" "$ag" "$bg" <<'PY'
import sys
n, d, w, c, r, wg, g, a, b, ag, bg = sys.argv[1:]
d, w, wg = float(d), float(w), float(wg)
c, r, g = int(c) / 1000, int(r) / 1000, int(g) / 1000
def diff(x, y):
    if x == y:
        return "same"
    only = [f"{p}/{q}" for p, q in zip(x.split(), y.split()) if p != q][:3]
    return "differ: " + ", ".join(only) if only else "differ"
print(f"| {n} | {d:.2f} | {w:.2f} | {c:.2f} | {r:.2f} | {w/r:.2f} | {c/r:.2f} | {w/d:.3f} | {diff(a, b)} | {wg:.2f} | {g:.2f} | {wg/g:.2f} | {diff(ag, bg)} |")
PY
done
