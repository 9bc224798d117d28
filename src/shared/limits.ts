// Size limits of every string and list a client may send, with messages a person can act on.
// describeIssues (src/backend/backend.ts) puts the field's name in front: "prompt: the prompt is
// 1,200,000 characters long; …". Every limit is far below MAX_WIRE_BYTES (src/shared/wire.ts), so
// a request that is merely too long reaches these messages instead of a closed socket.
import { z } from 'zod'

/** Longest path accepted (Linux's PATH_MAX). */
export const MAX_PATH_CHARS = 4096
/** Longest JSON field or parquet column name. */
export const MAX_FIELD_NAME_CHARS = 256
/** Longest Playground prompt: far more than any context window the app runs holds. */
export const MAX_PROMPT_CHARS = 100_000

const count = (n: number): string => n.toLocaleString('en-US')
const lengthOf = (input: unknown): string => (typeof input === 'string' ? `${count(input.length)} characters long` : 'too long')

/** A file or folder path a user gives; `what` names it in the message ("the dataset path"). */
export function pathString(what = 'the path'): z.ZodString {
  return z
    .string()
    .min(1, `${what} is empty: give a file or folder path.`)
    .max(MAX_PATH_CHARS, {
      error: (iss) => `${what} is ${lengthOf(iss.input)}; a path can be at most ${count(MAX_PATH_CHARS)} characters: check that a path, not a file's content, was given.`,
    })
}

/** A JSON field or parquet column name. */
export function fieldName(what = 'the field name'): z.ZodString {
  return z
    .string()
    .min(1, `${what} is empty: give the name of the field or column that holds the text.`)
    .max(MAX_FIELD_NAME_CHARS, { error: (iss) => `${what} is ${lengthOf(iss.input)}; a field name can be at most ${count(MAX_FIELD_NAME_CHARS)} characters.` })
}

/** The Playground's prompt (may be empty: generation then starts from the model's first token). */
export const promptString = z.string().max(MAX_PROMPT_CHARS, {
  error: (iss) =>
    `the prompt is ${lengthOf(iss.input)}; it can be at most ${count(MAX_PROMPT_CHARS)} characters: shorten it (only the last part of a long text fits in the model's context anyway).`,
})
