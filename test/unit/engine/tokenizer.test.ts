import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getEncoding } from 'js-tiktoken'
import { afterAll, describe, expect, it } from 'vitest'
import { ModelLoadError } from '../../../src/engine/model-folder.js'
import { TextTokenizer } from '../../../src/engine/tokenizer.js'

// Fixtures written by scripts/fixtures/make_tokenizer_fixtures.ts.
const TOKENIZERS = join(import.meta.dirname, '../../fixtures/tokenizers')
const tmp = mkdtempSync(join(tmpdir(), 'mxd-tokenizer-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const readJson = (path: string): object => JSON.parse(readFileSync(path, 'utf8')) as object

describe('GPT-2 tokenizer.json rebuilt from tiktoken ranks encodes as tiktoken does', () => {
  const gpt2 = TextTokenizer.fromFolder(join(TOKENIZERS, 'gpt2'))!
  const tiktoken = getEncoding('gpt2')
  const tricky = [
    'a  b\n\n\tc   ',
    "don't I'll we've",
    '12345 3.14159',
    'café naïve',
    '日本語の文章',
    '👍🏽 🇺🇸',
    ' leading and trailing spaces  ',
    'Hello, world! The quick brown fox.\r\n',
    'text<|endoftext|>more text',
  ]

  for (const text of tricky) {
    it(`${JSON.stringify(text)}: same ids as js-tiktoken, and decodes back exactly`, () => {
      const ids = gpt2.encode(text)
      expect(ids).toEqual(tiktoken.encode(text, 'all'))
      expect(gpt2.decode(ids)).toBe(text)
    })
  }

  it('<|endoftext|> is one special token; GPT-2 adds no BOS', () => {
    expect(gpt2.encode('<|endoftext|>')).toEqual([50256])
    expect(gpt2.bosId).toBe(50256)
    expect(gpt2.eosId).toBe(50256)
    expect(gpt2.vocabSize).toBe(50257)
    expect(gpt2.decode(gpt2.encode('a<|endoftext|>b'), { skipSpecialTokens: true })).toBe('ab')
  })

  it('token strings are the vocabulary entries (byte-to-unicode alphabet)', () => {
    expect(gpt2.tokenStrings(gpt2.encode('Hello world'))).toEqual(['Hello', 'Ġworld'])
    expect(gpt2.tokenStrings([50256, 999_999])).toEqual(['<|endoftext|>', ''])
    expect(gpt2.decode([])).toBe('')
  })
})

describe('Llama-2-style SentencePiece BPE with byte fallback', () => {
  const llama = TextTokenizer.fromFolder(join(TOKENIZERS, 'llama-sp'))!
  const byteToken = /^<0x[0-9A-F]{2}>$/

  it('adds BOS because tokenizer_config says add_bos_token (its tokens are {content} objects)', () => {
    expect(llama.bosId).toBe(1)
    expect(llama.eosId).toBe(2)
    const ids = llama.encode('The model reads text.')
    expect(ids[0]).toBe(1)
    expect(llama.encode('The model reads text.', { addSpecialTokens: false })).toEqual(ids.slice(1))
    expect(llama.tokenStrings(ids).slice(0, 3)).toEqual(['<s>', '▁The', '▁model'])
  })

  for (const text of ['The model reads text.', '  two leading spaces', 'Zürich, 日本 and 😀 {Q}~', ' a\nb\tc ']) {
    it(`${JSON.stringify(text)} round-trips exactly`, () => {
      const ids = llama.encode(text)
      expect(llama.decode(ids, { skipSpecialTokens: true })).toBe(text)
      expect(llama.decode(ids.slice(1))).toBe(text)
    })
  }

  it('characters absent from the vocabulary go through <0xNN> byte tokens', () => {
    const tokens = llama.tokenStrings(llama.encode('日本', { addSpecialTokens: false }))
    expect(tokens.filter((t) => byteToken.test(t))).toEqual(['<0xE6>', '<0x97>', '<0xA5>', '<0xE6>', '<0x9C>', '<0xAC>'])
    expect(tokens).not.toContain('<unk>')
  })

  it('add_bos_token false and add_eos_token true are honoured', () => {
    const dir = join(tmp, 'llama-eos')
    cpSync(join(TOKENIZERS, 'llama-sp'), dir, { recursive: true })
    const config = readJson(join(dir, 'tokenizer_config.json'))
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, add_bos_token: false, add_eos_token: true }))
    const ids = TextTokenizer.fromFolder(dir)!.encode('the end')
    expect(ids[0]).not.toBe(1)
    expect(ids.at(-1)).toBe(2)
  })

  it('without tokenizer_config.json, BOS comes from the post-processor template', () => {
    const tokenizer = TextTokenizer.fromJson(readJson(join(TOKENIZERS, 'llama-sp/tokenizer.json')))
    expect(tokenizer.bosId).toBe(1)
    expect(tokenizer.encode('the')[0]).toBe(1)
  })
})

describe('TextTokenizer.fromFolder', () => {
  it('is null when the folder has no tokenizer.json', () => {
    expect(TextTokenizer.fromFolder(tmp)).toBeNull()
  })

  it('names the file when tokenizer.json is not valid JSON or not a tokenizer', () => {
    const dir = mkdtempSync(join(tmp, 'bad-'))
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": ')
    expect(() => TextTokenizer.fromFolder(dir)).toThrow(ModelLoadError)
    expect(() => TextTokenizer.fromFolder(dir)).toThrow(/tokenizer\.json is not valid JSON/)
    writeFileSync(join(dir, 'tokenizer.json'), '{"version": "1.0"}')
    expect(() => TextTokenizer.fromFolder(dir)).toThrow(/has no "model" section/)
  })
})
