// Paths a user names (model folders, datasets, export targets, layer folders) can be anything:
// a FIFO whose open() waits forever for a writer, a character device that never ends, a procfs
// or sysfs file whose size is a lie, a loop of symbolic links, a folder where a file should be.
// Every read or write of such a path goes through this module, which
//   - refuses /proc, /sys and /dev (after resolving links), where nothing of the user's lives;
//   - opens files non-blocking and checks with fstat that what was opened is a regular file
//     before a single byte is read (so a FIFO is refused at once instead of hanging);
//   - turns errno codes into one sentence that names the file and the fix.
// The async forms are for the server's event loop; the sync forms are for the CLI and workers.
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs'
import { access, open, realpath, type FileHandle } from 'node:fs/promises'
import { dirname, resolve, sep } from 'node:path'

/** Folders that hold kernel and device interfaces, never a user's models, data or exports. */
export const SYSTEM_ROOTS = ['/proc', '/sys', '/dev'] as const

export class UserPathError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly code?: string,
  ) {
    super(message)
    this.name = 'UserPathError'
  }
}

/** `what` is how the message names the file to a user, e.g. "the model's config.json". */
function label(path: string, what?: string): string {
  return what ? `${what} (${path})` : path
}

/**
 * One sentence for a failed filesystem call on a user's path: what went wrong with which file,
 * and what to do. Unknown codes keep the system's message but still name the file.
 */
export function describeFsError(err: unknown, path: string, what?: string): UserPathError {
  if (err instanceof UserPathError) return err
  const e = err as NodeJS.ErrnoException
  const name = label(path, what)
  const code = e?.code
  const messages: Record<string, string> = {
    ENOENT: `${name} does not exist: check the path.`,
    EACCES: `${name} cannot be read or written by this user (permission denied): choose another location or change its permissions.`,
    EPERM: `${name} is not permitted to this user: choose another location or change its permissions.`,
    EISDIR: `${name} is a folder where a file is expected: choose the file itself.`,
    ENOTDIR: `${name} has a part that is a file where a folder is expected: check the path.`,
    ELOOP: `${name} is a loop of symbolic links: point to the real file or folder.`,
    ENAMETOOLONG: `${name}: the path is too long.`,
    ENOSPC: `The disk holding ${name} is full: free some space (or choose another location) and try again; nothing already stored was changed.`,
    EDQUOT: `The disk quota for ${name} is used up: free some space and try again.`,
    EROFS: `${name} is on a read-only file system: choose a writable location.`,
    EMFILE: `Too many files are open to read ${name}: close other programs or raise the limit (ulimit -n) and try again.`,
    EEXIST: `${name} already exists.`,
    ENOTEMPTY: `${name} is not empty.`,
    EIO: `The disk reported an input/output error on ${name}: check the disk.`,
  }
  const message = (code && messages[code]) ?? `${name}: ${e?.message ?? String(err)}`
  return new UserPathError(message, path, code)
}

function underSystemRoot(path: string): string | undefined {
  return SYSTEM_ROOTS.find((root) => path === root || path.startsWith(root + sep))
}

function systemPathError(path: string, real: string, what?: string): UserPathError {
  const shown = real === path ? path : `${path} (which is ${real})`
  return new UserPathError(
    `${what ? what + ' ' : ''}${shown} is inside ${underSystemRoot(real)}, which holds the system's kernel and device files, not models, data or exports: choose a folder of your own.`,
    path,
    'ESYSTEM',
  )
}

/**
 * The deepest existing ancestor of `path`, resolved through links, with the rest appended: what
 * the path would be once created. Lets an export target that does not exist yet be checked.
 */
async function resolveExisting(path: string): Promise<string> {
  const walk = { head: resolve(path), tail: [] as string[] }
  for (;;) {
    try {
      return resolve(await realpath(walk.head), ...[...walk.tail].reverse())
    } catch (err) {
      if (!climb(walk, err, path)) return resolve(path)
    }
  }
}

function resolveExistingSync(path: string): string {
  const walk = { head: resolve(path), tail: [] as string[] }
  for (;;) {
    try {
      return resolve(realpathSync(walk.head), ...[...walk.tail].reverse())
    } catch (err) {
      if (!climb(walk, err, path)) return resolve(path)
    }
  }
}

/**
 * One step of resolveExisting's walk up after realpath failed on `walk.head`: a missing part
 * moves the head to its parent (false at the root); any other error is the user's to see.
 */
function climb(walk: { head: string; tail: string[] }, err: unknown, path: string): boolean {
  const code = (err as NodeJS.ErrnoException).code
  if (code !== 'ENOENT' && code !== 'ENOTDIR') throw describeFsError(err, path)
  const parent = dirname(walk.head)
  if (parent === walk.head) return false
  walk.tail.push(walk.head.slice(parent.length).replace(/^[/\\]+/, ''))
  walk.head = parent
  return true
}

/** Refuses a path under /proc, /sys or /dev (links resolved); returns the resolved path. */
export async function refuseSystemPath(path: string, what?: string): Promise<string> {
  const real = await resolveExisting(path)
  if (underSystemRoot(resolve(path)) || underSystemRoot(real)) throw systemPathError(path, real, what)
  return real
}

export function refuseSystemPathSync(path: string, what?: string): string {
  const real = resolveExistingSync(path)
  if (underSystemRoot(resolve(path)) || underSystemRoot(real)) throw systemPathError(path, real, what)
  return real
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder'
  if (st.isFIFO()) return 'a named pipe (FIFO)'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device'
  return 'not a regular file'
}

function notRegular(path: string, st: Stats, what?: string): UserPathError {
  return new UserPathError(`${label(path, what)} is ${kindOf(st)}, not a regular file: point to the file itself.`, path, 'ENOTREG')
}

// O_NONBLOCK makes open() of a FIFO return at once instead of waiting for a writer; on a
// regular file it changes nothing.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)

/** Opens a regular file for reading; anything else (FIFO, device, folder, system file) is refused. */
export async function openRegularFile(path: string, what?: string): Promise<FileHandle> {
  await refuseSystemPath(path, what)
  let fh: FileHandle
  try {
    fh = await open(path, READ_FLAGS)
  } catch (err) {
    throw describeFsError(err, path, what)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw notRegular(path, st, what)
    return fh
  } catch (err) {
    await fh.close()
    throw describeFsError(err, path, what)
  }
}

/** Sync form of openRegularFile, for the CLI and worker threads; returns a file descriptor. */
export function openRegularFileSync(path: string, what?: string): number {
  refuseSystemPathSync(path, what)
  let fd: number
  try {
    fd = openSync(path, READ_FLAGS)
  } catch (err) {
    throw describeFsError(err, path, what)
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw notRegular(path, st, what)
    return fd
  } catch (err) {
    closeSync(fd)
    throw describeFsError(err, path, what)
  }
}

/** Reads a whole regular file, refusing anything larger than `maxBytes` before reading it. */
export async function readRegularFile(path: string, opts: { what?: string; maxBytes?: number } = {}): Promise<Buffer> {
  const fh = await openRegularFile(path, opts.what)
  try {
    const { size } = await fh.stat()
    if (opts.maxBytes !== undefined && size > opts.maxBytes) {
      throw new UserPathError(
        `${label(path, opts.what)} is ${size} bytes, more than the ${opts.maxBytes} such a file can be: check that it is the right file.`,
        path,
        'EFBIG',
      )
    }
    return await fh.readFile()
  } catch (err) {
    throw describeFsError(err, path, opts.what)
  } finally {
    await fh.close()
  }
}

/**
 * Sync form of readRegularFile, for the CLI and worker threads: the size is checked before a byte
 * is read, and the read stops at the size fstat reported (a file growing under us is cut there).
 */
export function readRegularFileSync(path: string, opts: { what?: string; maxBytes?: number } = {}): Buffer {
  const fd = openRegularFileSync(path, opts.what)
  try {
    const { size } = fstatSync(fd)
    if (opts.maxBytes !== undefined && size > opts.maxBytes) {
      throw new UserPathError(
        `${label(path, opts.what)} is ${size} bytes, more than the ${opts.maxBytes} such a file can be: check that it is the right file.`,
        path,
        'EFBIG',
      )
    }
    const out = Buffer.alloc(size)
    let done = 0
    while (done < size) {
      const n = readSync(fd, out, done, size - done, done)
      if (n === 0) break
      done += n
    }
    return done === size ? out : out.subarray(0, done)
  } catch (err) {
    throw describeFsError(err, path, opts.what)
  } finally {
    closeSync(fd)
  }
}

/** Whether something exists at a path, asked off the event loop (fs.access in libuv's pool). */
export async function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}
