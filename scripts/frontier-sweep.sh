#!/usr/bin/env bash
# Acceptance 3 of issue 6: the sparsity–accuracy frontier of one layer of the demo model.
# Trains MxD, a TopK transcoder and a skip transcoder at K ∈ {4, 8, 16, 32} (12 runs) with the
# same data, token budget, batch, lr schedule and seed, at matched parameters, each followed by
# its held-out evaluation on the same held-out sequences; then writes the table and the charts
# (scripts/frontier-report.ts → docs/data/frontier-*, docs/img/frontier-*.svg).
#
#   scripts/frontier-sweep.sh [--store DIR] [--tokens N] [--layer L] [--eval-tokens N] [--batch B]
#                             [--ks "4 8 16 32"] [--seed S] [--model DIR] [--suffix -layerL] [--fresh]
#                             [--lr LR] [--buffer-rows R]
#
# Matched parameters: MxD's N is the app's default, parameter-matched to a TopK transcoder with
# 32·d latents; the transcoder has 32·d latents; the skip transcoder's W_skip (d², no bias) is paid
# for with round(d²/(2d+1)) fewer latents, so all three are within 0.3% of each other.
# A run whose result file already exists in $STORE/results is not trained again (re-running after
# an interruption continues the sweep); --fresh starts from an empty store.
set -euo pipefail
cd "$(dirname "$0")/.."

STORE=/tmp/mxd-frontier/store
MODEL=resources/models/kjv-gpt2-mini
DATA=resources/corpus/kjv
LAYER=2
TOKENS=65536
BATCH=128
LR=0.001
SEED=0
EVAL_TOKENS=8192
BUFFER_ROWS=16384
KS="4 8 16 32"
SUFFIX=""
FRESH=0
ARGS=("$@")
while [[ $# -gt 0 ]]; do
  case $1 in
    --store) STORE=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --layer) LAYER=$2; shift 2 ;;
    --eval-tokens) EVAL_TOKENS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --lr) LR=$2; shift 2 ;;
    --buffer-rows) BUFFER_ROWS=$2; shift 2 ;;
    --ks) KS=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --suffix) SUFFIX=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

# The activation buffer must hold several batches, or its shuffle mixes little (the official code
# keeps 128 batches' worth of sequences); with a large batch, pass --buffer-rows too.
if (( BUFFER_ROWS < 4 * BATCH )); then echo "--buffer-rows $BUFFER_ROWS is under 4 batches of $BATCH: give at least $((4 * BATCH))" >&2; exit 2; fi
if [[ $FRESH == 1 ]]; then rm -rf "$STORE"; fi
mkdir -p "$STORE/results"
mxd() { node bin/mxd.mjs "$@" --store "$STORE"; }

# d_model from the model's config.json; the skip transcoder's width pays for W_skip.
D=$(node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1] + "/config.json", "utf8")); console.log(c.n_embd ?? c.hidden_size)' "$MODEL")
TC_WIDTH=$((32 * D))
SKIP_WIDTH=$((TC_WIDTH - (D * D + D) / (2 * D + 1)))   # 32·d − round(d²/(2d+1))
echo "d = $D: transcoder $TC_WIDTH latents, skip transcoder $SKIP_WIDTH latents + W_skip, MxD N parameter-matched (default)"

COMMON=(--model "$MODEL" --layer "$LAYER" --data "$DATA" --tokens "$TOKENS" --batch "$BATCH" --lr "$LR" --seed "$SEED"
  --buffer-rows "$BUFFER_ROWS" --eval-tokens "$EVAL_TOKENS" --json)

started=$(date +%s)
for k in $KS; do
  for kind in mxd transcoder skip-transcoder; do
    result="$STORE/results/$kind-k$k.json"
    if [[ -s $result ]] && grep -q '"eval.nmse"' "$result"; then echo "== $kind K=$k: done before ($result)"; continue; fi
    case $kind in
      mxd) size=() ;;
      transcoder) size=(--width "$TC_WIDTH") ;;
      skip-transcoder) size=(--width "$SKIP_WIDTH") ;;
    esac
    echo "== $kind K=$k ($(( $(date +%s) - started )) s into the sweep)"
    # The last JSON line is the run with its final and eval.* metrics.
    if mxd train "${COMMON[@]}" --kind "$kind" --k "$k" "${size[@]}" | tail -n 1 > "$result.tmp"; then
      mv "$result.tmp" "$result"
      node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const m = r.metrics
        console.log(`   run ${r.run.id} ${r.run.status}: NMSE ${m["eval.nmse"]?.toFixed(4)}, CE spliced ${m["eval.ce_spliced"]?.toFixed(4)} (clean ${m["eval.ce_clean"]?.toFixed(4)}, zero ${m["eval.ce_zero"]?.toFixed(4)}), ${m.tokens_per_s?.toFixed(0)} tok/s`)' "$result"
    else
      echo "   $kind K=$k failed; see: node bin/mxd.mjs runs --store $STORE" >&2
    fi
  done
done
echo "== sweep took $(( $(date +%s) - started )) s"

npx tsx scripts/frontier-report.ts --store "$STORE" --model "$MODEL" --layer "$LAYER" \
  --suffix="$SUFFIX" --command "scripts/frontier-sweep.sh ${ARGS[*]}"
