// Image datasets the app knows by name: their class names and where a package installs them.
// Debian's dataset-fashion-mnist installs the four gzipped IDX files under
// /usr/share/datasets/fashion-mnist (dpkg -L dataset-fashion-mnist); scripts/setup.sh installs it.
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { ImageLocation } from '../../shared/images.js'
import { IDX_FILES } from './idx.js'

/** Fashion-MNIST's labels 0–9, as its README names them. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const
/** MNIST's labels are the digits themselves. */
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const

export const FASHION_MNIST_DEBIAN_PATH = '/usr/share/datasets/fashion-mnist'

interface KnownLocation {
  name: string
  path: string
  source: string
  install: string
}

export const KNOWN_IMAGE_LOCATIONS: readonly KnownLocation[] = [
  {
    name: 'Fashion-MNIST',
    path: FASHION_MNIST_DEBIAN_PATH,
    source: "Debian's dataset-fashion-mnist package (60,000 train and 10,000 test images, 28×28, 10 classes)",
    install: 'sudo apt-get install dataset-fashion-mnist (scripts/setup.sh does this)',
  },
]

/** The known locations, each with whether its files are there now (async: called by the server). */
export async function listImageLocations(): Promise<ImageLocation[]> {
  return Promise.all(
    KNOWN_IMAGE_LOCATIONS.map(async (loc) => {
      const names = [IDX_FILES.train.images, IDX_FILES.train.labels, IDX_FILES.test.images, IDX_FILES.test.labels]
      const found = await Promise.all(
        names.map(async (n) => (await isFile(join(loc.path, n))) || (await isFile(join(loc.path, `${n}.gz`)))),
      )
      return { ...loc, present: found.every(Boolean) }
    }),
  )
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/**
 * Default class names of an IDX folder with `count` classes: Fashion-MNIST's when the folder is
 * named for it (its files and labels are laid out exactly as MNIST's), else the label numbers,
 * which for MNIST are its digits.
 */
export function defaultIdxClasses(folder: string, count: number): string[] {
  if (count <= FASHION_MNIST_CLASSES.length && /fashion/i.test(folder)) return [...FASHION_MNIST_CLASSES]
  return Array.from({ length: count }, (_, i) => String(i))
}
