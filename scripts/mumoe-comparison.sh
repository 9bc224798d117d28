#!/usr/bin/env bash
# Acceptance 3 of issue 5: a dense GPT-2 and two CPμMoE GPT-2s (8 and 32 experts, CP ranks
# parameter-matched to the dense MLP) pre-trained on the bundled KJV corpus with the same token
# budget, seed, size and tokenizer; held-out loss of each over the whole held-out split; the
# expert-specialisation analysis of both μMoE models on the same held-out text.
#   scripts/mumoe-comparison.sh            (models in $MUMOE_OUT, default /tmp/mumoe-comparison)
# Trained models are kept out of the repo; a model folder that already exists is not retrained.
# Writes docs/data/mumoe-comparison.json (the table and both specialisation summaries) and
# docs/data/mumoe-experts-{8,32}.json (each analysis, top tokens and contexts trimmed).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${MUMOE_OUT:-/tmp/mumoe-comparison}
TOKENS=${MUMOE_TOKENS:-184320}          # 180 steps of 16 × 64 tokens
ANALYSIS_TOKENS=${MUMOE_ANALYSIS_TOKENS:-32768}
export MXD_HOME="$OUT/store"            # a store of its own: the runs do not land in the user's
mkdir -p "$OUT/tokenizer" docs/data
mxd() { node bin/mxd.mjs "$@"; }

# One tokenizer for all three: the demo model's 2048-token BPE (trained on the training split only).
cp resources/models/kjv-gpt2-mini/tokenizer.json resources/models/kjv-gpt2-mini/tokenizer_config.json "$OUT/tokenizer/"

COMMON=(--data resources/corpus/kjv --tokenizer "$OUT/tokenizer" --layers 2 --d-model 96 --heads 4 --ctx 64
  --tokens "$TOKENS" --batch 16 --lr 0.002 --seed 0 --eval-every 100000 --eval-sequences 100000)

train() { # name, extra flags…
  local name=$1; shift
  if [[ ! -f "$OUT/$name/model.safetensors" ]]; then
    echo "== pre-training $name"
    mxd pretrain "${COMMON[@]}" "$@" --out "$OUT/$name" --json | tail -n 1 > "$OUT/$name.pretrain.json"
  fi
  mxd inspect --model "$OUT/$name" --json > "$OUT/$name.inspect.json"
}

train dense
train cpmoe-8 --mlp cpmoe --experts 8
train cpmoe-32 --mlp cpmoe --experts 32

for e in 8 32; do
  echo "== expert analysis, $e experts"
  mxd experts --model "$OUT/cpmoe-$e" --tokens "$ANALYSIS_TOKENS" --json | tail -n 1 > "$OUT/cpmoe-$e.experts.json"
done

# The table: parameters, held-out loss (trainer's final evaluation over every held-out sequence),
# training time; μMoE relative to dense.
node --input-type=module - "$OUT" <<'JS'
import { readFileSync, writeFileSync } from 'node:fs'
const out = process.argv[2]
const read = (f) => JSON.parse(readFileSync(`${out}/${f}`, 'utf8'))
const rows = ['dense', 'cpmoe-8', 'cpmoe-32'].map((name) => {
  const run = read(`${name}.pretrain.json`)
  const info = read(`${name}.inspect.json`)
  const seconds = (Date.parse(run.run.finishedAt) - Date.parse(run.run.startedAt)) / 1000
  return {
    name,
    mlp: run.run.config.mlp,
    experts: run.run.config.experts ?? null,
    parameters: info.info.parameters,
    mlpParameters: info.layers.reduce((s, l) => s + l.mlpParameters, 0),
    tokens: run.run.config.tokens,
    heldoutLoss: run.metrics.heldout_loss,
    trainLoss: run.metrics.loss,
    tokensPerSecond: run.metrics.tokens_per_s,
    trainSeconds: seconds,
    config: run.run.config,
  }
})
const dense = rows[0].heldoutLoss
for (const r of rows) r.relativeToDense = r.heldoutLoss / dense - 1
// The expert analyses, side by side; docs/data keeps each in full but with fewer tokens and contexts per expert.
const specialisation = {}
for (const e of [8, 32]) {
  const { analysis } = read(`cpmoe-${e}.experts.json`)
  specialisation[e] = { text: analysis.text, summary: analysis.summary, layers: analysis.layers.map((l) => ({ layer: l.layer, summary: l.summary })) }
  for (const l of analysis.layers) {
    for (const x of l.experts) {
      x.topTokens = x.topTokens.slice(0, 8)
      x.topTokensByMean = x.topTokensByMean.slice(0, 5)
      x.topContexts = x.topContexts.slice(0, 3)
    }
  }
  writeFileSync(`docs/data/mumoe-experts-${e}.json`, JSON.stringify(analysis) + '\n')
}
const result = {
  createdAt: new Date().toISOString(),
  rows,
  within5Percent: rows.slice(1).map((r) => ({ name: r.name, ok: r.relativeToDense <= 0.05 })),
  specialisation,
}
writeFileSync('docs/data/mumoe-comparison.json', JSON.stringify(result, null, 2) + '\n')
for (const r of rows) console.log(`${r.name.padEnd(9)} ${String(r.parameters).padStart(8)} params  held-out ${r.heldoutLoss.toFixed(4)}  (${(100 * r.relativeToDense).toFixed(2)}% vs dense)  ${r.trainSeconds.toFixed(0)} s`)
JS
echo "done in $SECONDS s; table in docs/data/mumoe-comparison.json"
