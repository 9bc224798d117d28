// A tiny model folder that can read text: the GPT-2 fixture's weights (vocabulary 300) with a
// byte-level BPE tokenizer that has no merges, so every byte is one token with id 0–255.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './web-process.js'

/** A byte-level BPE tokenizer with no merges: one token per byte, ids 0–255 (fits a tiny vocab). */
export function byteTokenizerJson(): object {
  const printable = [...Array(94).keys()].map((i) => i + 33).concat([...Array(12).keys()].map((i) => i + 161), [...Array(82).keys()].map((i) => i + 174))
  const byteToChar = new Map<number, string>()
  let extra = 0
  for (let b = 0; b < 256; b++) byteToChar.set(b, String.fromCharCode(printable.includes(b) ? b : 256 + extra++))
  const vocab = Object.fromEntries([...byteToChar.entries()].map(([b, ch]) => [ch, b]))
  return {
    version: '1.0',
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  }
}

/** A temp folder with gpt2-tiny-f32's config and weights and the byte tokenizer. */
export function tinyModelWithByteTokenizer(): string {
  const src = join(repoRoot, 'test/fixtures/models/gpt2-tiny-f32')
  const dir = mkdtempSync(join(tmpdir(), 'mxd-tiny-'))
  cpSync(join(src, 'config.json'), join(dir, 'config.json'))
  cpSync(join(src, 'model.safetensors'), join(dir, 'model.safetensors'))
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteTokenizerJson()))
  return dir
}
