#!/bin/sh
# Training throughput of shrink beside PyTorch on this machine, back to back
# in one run, with the load average before each figure (README, "Training
# throughput"). Not part of the Go build. Needs /usr/bin/python3 with torch
# (Debian: apt-get install python3-torch libopenblas0-pthread).
#
#   internal/tools/train_bench.sh [TEXT]
#
# 1. The 8.4M shape (dim 256, 8 layers, 4/2 heads, FFN 768, vocab 4096;
#    batch 8 x 256 random tokens, AdamW): torch_bench.py against
#    distill's BenchmarkTrainStepEdge (train, distill with a live teacher,
#    distill from a teacher cache).
# 2. The same through the command line, vocabulary 2048 (the tokenizer of
#    ../shared/models/dev-llama-3m) on the first 64 KB of TEXT (default:
#    the Go sources of net/http): shrink train, then shrink distill of that
#    model into itself (live teacher, then teacher cache), beside
#    torch_bench.py --vocab 2048.
set -e
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-4}
TMP=${TMPDIR:-/tmp}/shrink-train-bench.$$
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
if [ -n "$1" ]; then
	head -c 65536 "$1" > "$TMP/text.txt"
else
	find "$(go env GOROOT)/src/net/http" -maxdepth 1 -name '*.go' ! -name '*_test.go' | sort | xargs cat 2>/dev/null | head -c 65536 > "$TMP/text.txt"
fi
TEXT=$TMP/text.txt
go test -c -o "$TMP/distill.test" ./distill
go build -o "$TMP/shrink" ./cmd/shrink
load() { echo "load: $(uptime | sed 's/.*load average/load average/')"; }
py=/usr/bin/python3
tb=internal/tools/torch_bench.py

echo "== 8.4M shape, vocab 4096, batch 8 x 256, $STEPS steps"
load; $py $tb --mode train --steps "$STEPS"
load; $py $tb --mode distill --steps "$STEPS"
load; "$TMP/distill.test" -test.run '^$' -test.bench TrainStepEdge -test.benchtime "${STEPS}x" | grep Benchmark

echo "== command line, vocab 2048, batch 8 x 256, $((STEPS * 2)) steps"
V=../shared/models/dev-llama-3m
S="$TMP/shrink"
common="--ctx 256 --batch 8 --steps $((STEPS * 2)) --save-every 0"
load; $py $tb --mode train --vocab 2048 --steps "$STEPS"
load; $S train --data "$TEXT" "$TMP/m.gguf" --vocab-from $V --dim 256 --layers 8 --heads 4 --kv-heads 2 --ffn 768 --untied $common 2>&1 | grep -E '^trained'
load; $py $tb --mode distill --vocab 2048 --steps "$STEPS"
load; $S distill --teacher "$TMP/m.gguf" --student "$TMP/m.gguf" --data "$TEXT" "$TMP/d.gguf" $common 2>&1 | grep -E '^trained'
$S distill --teacher "$TMP/m.gguf" --student "$TMP/m.gguf" --data "$TEXT" "$TMP/d.gguf" --teacher-cache "$TMP/kd.gguf" --steps 1 --ctx 256 --batch 8 -q
load; $S distill --teacher "$TMP/m.gguf" --student "$TMP/m.gguf" --data "$TEXT" "$TMP/d.gguf" --teacher-cache "$TMP/kd.gguf" $common 2>&1 | grep -E '^trained'
load
