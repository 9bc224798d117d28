// Image datasets (src/data/images, docs/images.md): registered in the same `datasets` table as
// text datasets, with modality "images". An MNIST-layout IDX folder keeps its official test split
// apart; an image folder (one subfolder per class) gets a seeded stratified test part.
import { z } from 'zod'
import { pathString } from './limits.js'

export const MAX_IMAGE_CLASSES = 256
export const MAX_CLASS_NAME_CHARS = 100

export const ImageDatasetFormat = z.enum(['idx', 'image-folder'])
export type ImageDatasetFormat = z.infer<typeof ImageDatasetFormat>

export const ImageSplitName = z.enum(['train', 'validation', 'test'])
export type ImageSplitName = z.infer<typeof ImageSplitName>

const perClass = z.array(z.number().int())

export const ImageDataset = z.object({
  id: z.number().int().positive(),
  path: z.string(),
  name: z.string(),
  modality: z.literal('images'),
  /** sha256 of the files' sha256sum-style listing (src/data/hash.ts combinedSha256). */
  sha256: z.string(),
  format: ImageDatasetFormat,
  /** Class i's name; labels are 0..classes.length-1. */
  classes: z.array(z.string()),
  /** One image's shape: height × width × channels (1: grayscale, 3: RGB). */
  shape: z.object({ height: z.number().int(), width: z.number().int(), channels: z.union([z.literal(1), z.literal(3)]) }),
  images: z.number().int(),
  /** Images per split, and per split and class (counts.train[c]). */
  splitSizes: z.object({ train: z.number().int(), validation: z.number().int(), test: z.number().int() }),
  counts: z.object({ train: perClass, validation: perClass, test: perClass }),
  split: z.object({
    /** Part of the (official) train images held out for validation, per class. */
    validationFraction: z.number(),
    /** Part of all images drawn as the test split, per class; null when the dataset has an official test split. */
    testFraction: z.number().nullable(),
    seed: z.number().int(),
  }),
  files: z.number().int(),
  bytes: z.number(),
  /** The decoded images, uint8, in the store's folder (loadImageSplit reads it). */
  cacheBytes: z.number(),
  addedAt: z.string(),
  updatedAt: z.string(),
  previousSha256: z.string().nullable(),
  status: z.enum(['ok', 'changed', 'missing']),
})
export type ImageDataset = z.infer<typeof ImageDataset>

const className = z
  .string()
  .min(1, 'a class name is empty: give every class a name.')
  .max(MAX_CLASS_NAME_CHARS, `a class name can be at most ${MAX_CLASS_NAME_CHARS} characters.`)

export const ImageAddRequest = z.strictObject({
  path: pathString('the image dataset folder'),
  /** Names for labels 0..n-1 of an IDX folder (an image folder's classes are its subfolders). */
  classNames: z.array(className).min(1).max(MAX_IMAGE_CLASSES).optional(),
  validationFraction: z.number().min(0).lt(1).optional(),
  /** Image folders only: the stratified test part (an IDX folder has its official test split). */
  testFraction: z.number().min(0).lt(1).optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  /** 1: grayscale, 3: RGB; default: 1 when every pixel is gray, else 3. */
  channels: z.union([z.literal(1), z.literal(3)]).optional(),
})
export type ImageAddRequest = z.infer<typeof ImageAddRequest>

/** A place where a known image dataset is installed (or would be). */
export const ImageLocation = z.object({
  name: z.string(),
  path: z.string(),
  /** Whether the folder holds the dataset now. */
  present: z.boolean(),
  /** Where it comes from and how to get it. */
  source: z.string(),
  install: z.string(),
})
export type ImageLocation = z.infer<typeof ImageLocation>

/** images.get: a few images of a registered dataset's split, for pages that show them (top images, misclassified examples). */
export const IMAGE_GET_LIMIT = 256

export const ImageGetRequest = z.strictObject({
  datasetId: z.number().int().positive(),
  split: ImageSplitName,
  /** Indices within the split, in the order loadImageSplit returns it. */
  indices: z.array(z.number().int().min(0).max(100_000_000)).min(1).max(IMAGE_GET_LIMIT),
})

export const ImageGetResult = z.object({
  datasetId: z.number().int(),
  split: ImageSplitName,
  height: z.number().int(),
  width: z.number().int(),
  channels: z.number().int(),
  classes: z.array(z.string()),
  images: z.array(
    z.object({
      index: z.number().int(),
      label: z.number().int(),
      /** The image's bytes, row-major height × width × channels, base64. */
      pixels: z.string(),
    }),
  ),
})
export type ImageGetResult = z.infer<typeof ImageGetResult>
