// Content hashes of dataset files, streamed so a multi-GB file never sits in memory
// (src/store/files.ts's sha256File reads the whole file, which suits checkpoints, not corpora).
import { createHash } from 'node:crypto'
import { openRegularFile } from '../fs/user-files.js'

export async function sha256Stream(file: string): Promise<string> {
  const hash = createHash('sha256')
  // Regular files only, opened non-blocking: a FIFO among the files is refused, not waited on.
  const handle = await openRegularFile(file, 'The dataset file')
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 4 << 20, autoClose: false })) hash.update(chunk as Buffer)
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

/**
 * One hash for a folder of files: the sha256 of its `sha256sum`-style listing ("HASH  NAME\n"
 * per file, in the dataset's file order), so it changes when any file, name or the set changes.
 */
export function combinedSha256(files: readonly { path: string; sha256: string }[]): string {
  return createHash('sha256')
    .update(files.map((f) => `${f.sha256}  ${f.path}\n`).join(''))
    .digest('hex')
}
