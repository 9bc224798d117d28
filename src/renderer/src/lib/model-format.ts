// Formatting for the Models page and the Playground: counts, byte sizes, sources, stop reasons,
// and turning vocabulary strings (GPT-2's "Ġthe", SentencePiece's "▁the", "<0x0A>") into the
// text they stand for.
import type { ModelEntry, PlaygroundEvent } from '../../../shared/models'

/** One of the model's most likely next tokens, with its probability. */
export interface Prediction {
  id: number
  prob: number
  text: string
}

export interface PromptToken {
  kind: 'prompt'
  /** Position in the whole sequence. */
  pos: number
  id: number
  text: string
}

export interface GeneratedToken {
  kind: 'generated'
  pos: number
  /** 0 for the first generated token. */
  index: number
  id: number
  /** '' while a multi-byte character is incomplete (the next token completes it). */
  text: string
  /** The model's most likely tokens for this position, before it chose this one. */
  top: Prediction[]
}

/** The tokens of a Playground sequence: the prompt's, then the generated ones. */
export type SeqToken = PromptToken | GeneratedToken

/** 124.4M, 1.1B, 6.7K; plain below a thousand. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—'
  const a = Math.abs(n)
  if (a >= 1e9) return `${(n / 1e9).toFixed(a >= 1e11 ? 0 : 1)}B`
  if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e8 ? 1 : a >= 1e7 ? 1 : 2)}M`
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}K`
  return String(n)
}

/** Decimal units, as Hugging Face shows file sizes: 548.1 MB, 4.4 MB, 812 B. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let v = n
  let u = 0
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`
}

export type ModelSource = ModelEntry['source']

export const SOURCE_LABEL: Record<ModelSource, string> = {
  added: 'Added',
  'hf-cache': 'HF cache',
  bundled: 'Bundled',
}

export const SOURCE_HELP: Record<ModelSource, string> = {
  added: 'A folder you added. Removing it only takes it off this list.',
  'hf-cache': 'Found in the Hugging Face cache on this machine; it is listed again while it is there.',
  bundled: 'The demo model that comes with MxD Studio.',
}

export type StopReason = Extract<PlaygroundEvent, { type: 'done' }>['stopReason']

export const STOP_REASON_LABEL: Record<StopReason, string> = {
  eos: 'the model ended the text (end-of-sequence token)',
  max_tokens: 'reached the max tokens limit',
  context_full: 'the model’s context window is full',
  aborted: 'you pressed Stop',
}

/** Why a model cannot be used in the Playground, or null when it can. */
export function playgroundBlocker(m: ModelEntry): string | null {
  if (m.error || !m.info) return `its folder cannot be read${m.error ? `: ${m.error}` : ''}`
  if (!m.info.hasTokenizer) return 'it has no tokenizer.json, so it cannot read a text prompt'
  return null
}

// GPT-2 byte-level BPE writes each byte as a printable character; this is its table, reversed.
let byteLevel: Map<string, number> | null = null
function byteLevelTable(): Map<string, number> {
  if (byteLevel) return byteLevel
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)
  byteLevel = new Map()
  let extra = 0
  for (let b = 0; b < 256; b++) byteLevel.set(String.fromCharCode(printable(b) ? b : 256 + extra++), b)
  return byteLevel
}

function bytesOfByteLevel(token: string): number[] | null {
  const table = byteLevelTable()
  const out: number[] = []
  for (const ch of token) {
    const b = table.get(ch)
    if (b === undefined) return null
    out.push(b)
  }
  return out
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function hexBytes(bytes: number[]): string {
  return bytes.map((b) => `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
}

/**
 * The text each prompt token stands for, from the tokenizer's vocabulary strings. SentencePiece
 * ("▁" for a space, "<0x0A>" for a byte) when any token looks like it; else GPT-2 byte-level when
 * every token maps to bytes. A token holding part of a UTF-8 character shows its bytes as \xNN.
 */
export function promptTokenTexts(tokens: string[]): string[] {
  const sentencePiece = tokens.some((t) => t.includes('▁') || /^<0x[0-9A-Fa-f]{2}>$/.test(t))
  if (sentencePiece) {
    return tokens.map((t) => {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t)
      if (m) {
        const b = parseInt(m[1]!, 16)
        return b < 0x80 ? String.fromCharCode(b) : hexBytes([b])
      }
      return t.replace(/▁/g, ' ')
    })
  }
  const asBytes = tokens.map(bytesOfByteLevel)
  if (asBytes.some((b) => b === null)) return tokens
  return asBytes.map((bytes) => {
    try {
      return utf8.decode(new Uint8Array(bytes!))
    } catch {
      return hexBytes(bytes!)
    }
  })
}

/** Text to show for a token: whitespace made visible where it would otherwise vanish. */
export function visibleToken(text: string): string {
  if (text === '') return '◌'
  return controlPictures(text.replace(/\r?\n/g, '↵\n').replace(/\t/g, '⇥\t'))
}

/** Control characters (other than line breaks and tabs) as escapes, \x01, which every font can draw. */
function controlPictures(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/[\x00-\x08\x0B-\x1F\x7F]/g, (c) => hexBytes([c.charCodeAt(0)]))
      // Other controls, lone surrogates, private-use and unassigned code points would draw as empty boxes.
      .replace(/(?![\n\t\r])[\p{Cc}\p{Cs}\p{Co}\p{Cn}]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16).toUpperCase()}}`)
  )
}

/** For a predictions list: spaces and line breaks shown as symbols, so " the" and "the" differ. */
export function predictionLabel(text: string): string {
  if (text === '') return '◌'
  return controlPictures(text.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥'))
}

/** 23.4%, 0.42%, <0.01%. */
export function formatProb(p: number): string {
  if (!Number.isFinite(p)) return '—'
  const pct = p * 100
  if (pct >= 10) return `${pct.toFixed(1)}%`
  if (pct >= 0.01) return `${pct.toFixed(2)}%`
  return '<0.01%'
}

/** The probability the model gave the token it chose, when that was among its top predictions. */
export function chosenProb(t: SeqToken): number | null {
  if (t.kind !== 'generated') return null
  return t.top.find((p) => p.id === t.id)?.prob ?? null
}

/** The chosen token as a quoted string; an empty piece is part of a character the next token completes. */
export function chosenText(t: SeqToken): string {
  return t.text === '' ? '◌ (part of a character)' : JSON.stringify(t.text)
}
