// `npm run make:demo-model`: the recipe of the demo model that ships in resources/models/.
//  1. Corpus: the King James Bible from Debian's bible-kjv-text (public domain), one document
//     per chapter, split into training and held-out chapters by the data module's seeded
//     by-document split; written to resources/corpus/kjv/{train,heldout}.txt.
//  2. Tokenizer: a 2048-token byte-level BPE trained on the training chapters only.
//  3. Model: a small GPT-2 pre-trained with this repo's trainer (src/engine/train), saved in F16
//     as a Hugging Face folder with a README stating data, command, steps and losses.
// Resumable: a checkpoint is kept in $TMPDIR while training; rerunning continues from it.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { splitOf } from '../src/data/split.js'
import { initBackend } from '../src/engine/backend.js'
import { SafetensorsFile } from '../src/engine/safetensors.js'
import { TextTokenizer } from '../src/engine/tokenizer.js'
import { bpeTokenizerJson, gpt2TokenizerConfig, trainBpe } from '../src/engine/train/bpe.js'
import { loadPretrainData, unigramEntropy } from '../src/engine/train/data.js'
import { engineLoss } from '../src/engine/train/evaluate.js'
import { loadLanguageModel } from '../src/engine/models/load.js'
import { TrainableGpt2, type Gpt2Config } from '../src/engine/train/gpt2.js'
import { saveGpt2Folder } from '../src/engine/train/save.js'
import { Pretrainer, trainLoop, type TrainSettings } from '../src/engine/train/trainer.js'

const ROOT = resolve(import.meta.dirname, '..')
const NAME = 'kjv-gpt2-mini'
const CORPUS = join(ROOT, 'resources/corpus/kjv')
const OUT = join(ROOT, 'resources/models', NAME)
const EOS = '<|endoftext|>'
const VOCAB = 2048
const CTX = 128
const MODEL: Gpt2Config = { vocabSize: VOCAB, nPositions: CTX, nLayer: 4, nHead: 4, nEmbd: 192, mlp: { kind: 'dense' }, layerNormEps: 1e-5 }
const TOKENS = Number(process.env.DEMO_TOKENS ?? 800_000)
const BATCH = 8
const SETTINGS: TrainSettings = {
  batch: BATCH,
  lr: 2e-3,
  minLrRatio: 0.1,
  warmupSteps: 40,
  totalSteps: Math.ceil(TOKENS / (BATCH * CTX)),
  weightDecay: 0.1,
  betas: [0.9, 0.95],
  gradClip: 1,
  seed: 1,
}
const EVAL_EVERY = 50
const HELDOUT_SEQUENCES = 64
const CHECKPOINT = join(tmpdir(), `mxd-${NAME}-checkpoint.safetensors`)

/** The KJV as chapters: "Genesis 1" then one verse per line (verse numbers and wrapping removed). */
function kjvChapters(): string[] {
  let raw: string
  try {
    raw = execFileSync('bible', ['Gen1:1-Rev22:21'], { encoding: 'utf8', maxBuffer: 64 << 20 })
  } catch {
    throw new Error('The KJV text is missing: install it with `apt-get install -y bible-kjv-text` (it brings the `bible` reader).')
  }
  // The reader prints, per chapter, a title line ("1 Samuel 3") and a block of verses, each
  // starting "  <n> " and wrapped at 80 columns; blank lines separate the two.
  const chapters: string[] = []
  let title: string | null = null
  for (const block of raw.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.trim() !== '')
    if (lines.length === 0) continue
    if (lines.length === 1 && !/^\s/.test(lines[0]!)) {
      title = lines[0]!.trim()
      continue
    }
    const verses: string[] = []
    for (const line of lines) {
      const verse = /^\s+\d+ (.*)$/.exec(line)
      if (verse) verses.push(verse[1]!.trim())
      else if (verses.length > 0) verses[verses.length - 1] += ' ' + line.trim() // a wrapped verse continues
    }
    if (title === null || verses.length === 0) throw new Error(`unexpected text from the bible reader near: ${lines[0]}`)
    chapters.push([title, ...verses].join('\n'))
    title = null
  }
  return chapters
}

function writeCorpus(): { train: number; heldout: number } {
  const chapters = kjvChapters()
  mkdirSync(CORPUS, { recursive: true })
  const parts = { train: [] as string[], heldout: [] as string[] }
  // The data module's split, so `mxd pretrain --data resources/corpus/kjv` makes the same one.
  for (const text of chapters) parts[splitOf({ kind: 'text', text, file: '', line: 0 })].push(text)
  writeFileSync(join(CORPUS, 'train.txt'), parts.train.join('\n\n') + '\n')
  writeFileSync(join(CORPUS, 'heldout.txt'), parts.heldout.join('\n\n') + '\n')
  return { train: parts.train.length, heldout: parts.heldout.length }
}

async function main(): Promise<void> {
  const started = Date.now()
  await initBackend()
  const counts = writeCorpus()
  console.log(`corpus: ${counts.train} training and ${counts.heldout} held-out chapters in ${CORPUS}`)

  const trainText = readFileSync(join(CORPUS, 'train.txt'), 'utf8').split('\n\n')
  const bpe = trainBpe(trainText, { vocabSize: VOCAB, specialTokens: [EOS] })
  const tokenizerFiles = { json: bpeTokenizerJson(bpe, [EOS]), config: gpt2TokenizerConfig(EOS, CTX) }
  const tokenizer = TextTokenizer.fromJson(tokenizerFiles.json, tokenizerFiles.config)
  console.log(`tokenizer: byte-level BPE, ${bpe.vocab.size} tokens`)

  const data = await loadPretrainData(CORPUS, tokenizer, { ctx: CTX, maxHeldoutSequences: Infinity })
  const trainTokens = data.train.length * CTX
  // Held-out loss during training on an evenly spaced sample of the held-out sequences (cheap);
  // at the end on all of them. The unigram baseline is over the same predicted tokens.
  const stride = Math.max(1, Math.floor(data.heldout.length / HELDOUT_SEQUENCES))
  const sample = data.heldout.filter((_, i) => i % stride === 0).slice(0, HELDOUT_SEQUENCES)
  const unigram = unigramEntropy(data.heldout.map((s) => s.subarray(1)))
  const unigramAll = unigramEntropy(sample.map((s) => s.subarray(1)))
  const heldoutTokens = data.heldout.length * CTX
  console.log(`data: ${data.train.length} training sequences (${trainTokens} tokens), ${data.heldout.length} held-out sequences`)
  console.log(`unigram entropy of the held-out targets: ${unigram.toFixed(3)} nats (of the sample evaluated during training: ${unigramAll.toFixed(3)})`)

  const model = new TrainableGpt2(MODEL, SETTINGS.seed)
  const trainer = new Pretrainer(model, data.train, sample, SETTINGS)
  if (existsSync(CHECKPOINT) && !process.argv.includes('--fresh')) {
    const file = SafetensorsFile.open(CHECKPOINT)
    trainer.restore(file)
    file.close()
    console.log(`resumed from ${CHECKPOINT} at step ${trainer.step}`)
  }
  console.log(`model: ${model.paramCount()} parameters; ${SETTINGS.totalSteps} steps of ${BATCH}×${CTX} tokens`)
  const curve: { step: number; loss: number; heldout: number }[] = []
  let lastLoss = NaN
  let rate = 0
  await trainLoop(trainer, {
    cancelled: () => false,
    onStep: (r) => {
      lastLoss = r.loss
      rate = r.tokensPerSecond
      if (r.step % 10 === 0) {
        console.log(`step ${r.step}/${SETTINGS.totalSteps} loss ${r.loss.toFixed(3)} lr ${r.lr.toExponential(2)} |g| ${r.gradNorm.toFixed(2)} ${r.tokensPerSecond.toFixed(0)} tok/s`)
      }
    },
    evalEvery: EVAL_EVERY,
    onEval: (step, heldout) => {
      curve.push({ step, loss: lastLoss, heldout })
      console.log(`step ${step}: held-out loss ${heldout.toFixed(3)}`)
    },
    checkpointEvery: EVAL_EVERY,
    onCheckpoint: (_step, bytes) => writeFileSync(CHECKPOINT, bytes),
  })
  const heldout = trainer.heldoutLoss(data.heldout)
  console.log(`held-out loss over all ${data.heldout.length} held-out sequences: ${heldout.toFixed(4)}`)

  rmSync(OUT, { recursive: true, force: true })
  saveGpt2Folder(OUT, model, { dtype: 'F16', tokenizer: tokenizerFiles, bosId: tokenizer.eosId, eosId: tokenizer.eosId })
  const minutes = (Date.now() - started) / 60000
  // The shipped F16 weights, through the engine, on the same held-out sequences.
  const shipped = await loadLanguageModel(OUT)
  const engineHeldout = engineLoss(shipped, data.heldout)
  shipped.dispose()
  console.log(`held-out loss of the saved F16 model through the engine: ${engineHeldout.toFixed(4)}`)
  writeFileSync(join(OUT, 'training.json'), JSON.stringify({ model: MODEL, settings: SETTINGS, curve, unigram, unigramAll }, null, 2) + '\n')
  writeFileSync(join(OUT, 'README.md'), readme({ counts, params: model.paramCount(), trainTokens, heldoutTokens, heldout, engineHeldout, unigram, unigramAll, curve, minutes, rate }))
  rmSync(CHECKPOINT, { force: true })
  console.log(`saved ${OUT} (held-out loss ${heldout.toFixed(3)} vs unigram ${unigram.toFixed(3)}) in ${minutes.toFixed(1)} min`)
}

interface Summary {
  counts: { train: number; heldout: number }
  params: number
  trainTokens: number
  heldoutTokens: number
  heldout: number
  engineHeldout: number
  unigram: number
  unigramAll: number
  curve: { step: number; loss: number; heldout: number }[]
  minutes: number
  rate: number
}

function readme(s: Summary): string {
  const steps = SETTINGS.totalSteps
  const rows = s.curve.map((c) => `| ${c.step} | ${(c.step * BATCH * CTX).toLocaleString('en')} | ${c.loss.toFixed(3)} | ${c.heldout.toFixed(3)} |`)
  return `# ${NAME}

A small GPT-2 pre-trained by MxD Studio's own trainer (src/engine/train) on the King James
Bible, shipped so the app and its tests have a real model offline. It loads in the model engine;
config.json and the tensor names are GPT2LMHeadModel's (Conv1D [in, out], lm_head tied to wte), so
\`GPT2LMHeadModel.from_pretrained\` reads it too (not exercised here: transformers is not installed).

## Data
- Text: the King James Version (1611; public domain) from Debian's \`bible-kjv-text\` package,
  read with its \`bible\` program. One document per chapter (${s.counts.train + s.counts.heldout} chapters):
  the chapter title line, then one verse per line, verse numbers removed.
- Split by chapter with the data module's seeded split (held-out fraction 0.05, seed 0):
  ${s.counts.train} training and ${s.counts.heldout} held-out chapters, in
  \`resources/corpus/kjv/train.txt\` and \`heldout.txt\`. Held-out chapters were never trained on,
  not even by the tokenizer.
- Tokenizer: a byte-level BPE (GPT-2's pre-tokenizer and byte alphabet) with ${VOCAB} tokens, trained
  on the training chapters; \`<|endoftext|>\` separates documents. A 50k-token GPT-2 vocabulary
  would put most of the parameters in the embedding; this one keeps the model at ${(s.params / 1e6).toFixed(2)}M parameters.

## Model
GPT-2 architecture: ${MODEL.nLayer} layers, d_model ${MODEL.nEmbd}, ${MODEL.nHead} heads, context ${CTX}, dense MLP
(4·d, gelu_new), tied embeddings; ${s.params.toLocaleString('en')} parameters, stored as F16.

## Training
- ${steps} steps × ${BATCH} sequences × ${CTX} tokens = ${(steps * BATCH * CTX).toLocaleString('en')} tokens
  (the training split packs to ${s.trainTokens.toLocaleString('en')} tokens).
- AdamW (betas 0.9/0.95, weight decay 0.1 on matrices), peak lr ${SETTINGS.lr}, ${SETTINGS.warmupSteps} warm-up steps,
  cosine decay to 10%, global-norm clipping 1.0, seed ${SETTINGS.seed}.
- Took ${s.minutes.toFixed(0)} minutes on a 2-core machine (tfjs wasm backend, one thread; last measured
  ${s.rate.toFixed(0)} tokens/s).

## Result
- Held-out loss over the whole held-out split (${s.heldoutTokens.toLocaleString('en')} predicted tokens): **${s.heldout.toFixed(3)} nats/token**
  (the saved F16 weights, through the model engine: ${s.engineHeldout.toFixed(3)}).
- Unigram-entropy baseline of the same held-out tokens: **${s.unigram.toFixed(3)} nats/token**: the loss of
  the best context-free model, even one fitted on the held-out data itself.
- The table's held-out column is on an evenly spaced sample of ${HELDOUT_SEQUENCES} held-out sequences (unigram entropy
  ${s.unigramAll.toFixed(3)}), which is cheaper to evaluate during training.

| step | tokens | training loss | held-out loss |
|---:|---:|---:|---:|
${rows.join('\n')}

## Reproduce
\`\`\`
apt-get install -y bible-kjv-text
npm run make:demo-model
node bin/mxd.mjs generate --model resources/models/${NAME} --prompt "And God said"
\`\`\`
`
}

await main()
