// The streaming half of the image expert analysis: per block, per expert, running sums of its
// pooled gate weight (total, per class, images with weight > 0) and its top images, fed one batch
// at a time. Memory is O(blocks × experts × (classes + TOP_IMAGES)), whatever the number of images.
//
// An image's weight for expert e is its gate weight a_e averaged over the image's patch tokens
// (the mixer gates every patch on its own; the mean keeps Σ_e = 1 per image, so "mass" compares
// across experts and expert counts like the text view's per-token weights do). The class shares,
// the dominance rule and "active" are specialisation.ts's, the GPT-2 view's, with images as items.
import type { ImageExpertAnalysis, ImageExpertReport, ImageExpertsBlock, ImageExpertsSummary, TopImage } from '../../shared/image-experts.js'
import { TOP_IMAGES } from '../../shared/image-experts.js'
import { classDominance, isActive, median, THRESHOLDS } from '../specialisation.js'

/** One block's running sums. */
class BlockSums {
  readonly mass: Float64Array
  readonly byClass: Float64Array
  readonly nonzero: Float64Array
  readonly top: TopImage[][]

  constructor(
    readonly nExperts: number,
    readonly nClasses: number,
  ) {
    this.mass = new Float64Array(nExperts)
    this.byClass = new Float64Array(nExperts * nClasses)
    this.nonzero = new Float64Array(nExperts)
    this.top = Array.from({ length: nExperts }, () => [])
  }

  /** pooled: [B × N] row-major, image `first + i` in row i. */
  add(pooled: ArrayLike<number>, labels: ArrayLike<number>, first: number): void {
    const N = this.nExperts
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i] as number
      for (let e = 0; e < N; e++) {
        const w = pooled[i * N + e] as number
        if (w <= 0) continue
        this.mass[e]! += w
        this.nonzero[e]!++
        this.byClass[e * this.nClasses + label]! += w
        // Highest weight first; images arrive in index order, so ties keep the lower index.
        const top = this.top[e] as TopImage[]
        if (top.length < TOP_IMAGES || w > (top[top.length - 1] as TopImage).weight) {
          let j = top.length
          while (j > 0 && (top[j - 1] as TopImage).weight < w) j--
          top.splice(j, 0, { index: first + i, label, weight: w })
          if (top.length > TOP_IMAGES) top.pop()
        }
      }
    }
  }
}

export class ImageExpertsAccumulator {
  private readonly blocks: BlockSums[]
  private readonly classCount: Float64Array
  private images = 0

  constructor(
    nBlocks: number,
    readonly nExperts: number,
    readonly classes: readonly string[],
  ) {
    this.blocks = Array.from({ length: nBlocks }, () => new BlockSums(nExperts, classes.length))
    this.classCount = new Float64Array(classes.length)
  }

  /**
   * One batch: per block its pooled weights [B × N] (images in order, the batch's first image
   * being number `this.count` of the split), and the images' labels.
   */
  add(pooledPerBlock: readonly ArrayLike<number>[], labels: ArrayLike<number>): void {
    if (pooledPerBlock.length !== this.blocks.length) throw new Error(`${pooledPerBlock.length} blocks of gate weights for ${this.blocks.length} μMoE blocks`)
    for (const [b, pooled] of pooledPerBlock.entries()) {
      if (pooled.length !== labels.length * this.nExperts) throw new Error(`block ${b}: ${pooled.length} weights for ${labels.length} images × ${this.nExperts} experts`)
      ;(this.blocks[b] as BlockSums).add(pooled, labels, this.images)
    }
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i] as number
      if (!(label >= 0 && label < this.classes.length)) throw new Error(`label ${label} is not one of the ${this.classes.length} classes`)
      this.classCount[label]!++
    }
    this.images += labels.length
  }

  get count(): number {
    return this.images
  }

  /** The reports of every block's experts and the summaries. */
  finish(about: Pick<ImageExpertAnalysis, 'model' | 'mlp' | 'patches' | 'data'>): ImageExpertAnalysis {
    const n = this.images
    const K = this.classes.length
    const blocks = this.blocks.map((sums, block): ImageExpertsBlock => {
      const experts = Array.from({ length: this.nExperts }, (_, e): ImageExpertReport => {
        const mass = sums.mass[e] as number
        const d = classDominance(sums.byClass.subarray(e * K, (e + 1) * K), this.classCount)
        const active = isActive(mass, n, this.nExperts)
        return {
          expert: e,
          massShare: n > 0 ? mass / n : 0,
          activeFraction: n > 0 ? (sums.nonzero[e] as number) / n : 0,
          active,
          topImages: sums.top[e] as TopImage[],
          classMass: d.classMass,
          classBalanced: d.classBalanced,
          topClass: this.classes[d.topClass] as string,
          classEntropy: d.entropy,
          dominatedBy: active && d.dominated ? (this.classes[d.topClass] as string) : null,
        }
      })
      return { block, summary: this.summarise(experts), experts }
    })
    return {
      ...about,
      nExperts: this.nExperts,
      nBlocks: blocks.length,
      classes: [...this.classes],
      classCounts: Array.from(this.classCount),
      thresholds: { classShare: THRESHOLDS.classShare, activeMass: THRESHOLDS.activeMass },
      summary: this.summarise(blocks.flatMap((b) => b.experts)),
      blocks,
    }
  }

  private summarise(experts: readonly ImageExpertReport[]): ImageExpertsSummary {
    const active = experts.filter((x) => x.active)
    const entropies = active.map((x) => x.classEntropy).sort((p, q) => p - q)
    return {
      experts: experts.length,
      active: active.length,
      dominated: active.length > 0 ? active.filter((x) => x.dominatedBy !== null).length / active.length : 0,
      meanClassEntropy: entropies.length > 0 ? entropies.reduce((s, h) => s + h, 0) / entropies.length : 0,
      medianClassEntropy: median(entropies),
      classCounts: Object.fromEntries(this.classes.map((c) => [c, active.filter((x) => x.dominatedBy === c).length])),
    }
  }
}
