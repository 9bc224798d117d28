// What a sparse-layer kind is, as data and formulas only (no tfjs): the wizard, the API contract,
// the CLI's previews and the layer file reader all read it, and the renderer bundles it. The
// kind's compute (initialisation, forward, backward) is its engine half, registered beside it
// in src/engine/layers/kinds.ts.

/** The sizes one layer of a kind is built from; `hidden` and `glu` only mean something to kinds with a dense hidden layer. */
export interface LayerSize {
  dIn: number
  dOut: number
  /** Units TopK selects among (N experts, d_sae latents). */
  width: number
  k: number
  /** The dense hidden width H (MxD); null for kinds without one. */
  hidden: number | null
  /** A GLU hidden layer (MxD on Llama-style models). */
  glu: boolean
}

/** What the model offers a kind's default width: d_model, the dense MLP's width, its activation. */
export interface WidthBasis {
  d: number
  hidden: number
  glu: boolean
}

/** The activation names cfg.json's "activation" field may hold. */
export type LayerActivation = 'gelu' | 'glu' | 'topk_relu'

export interface LayerKindDescriptor<Id extends string = string> {
  /** The config's `kind` and cfg.json's `architecture` (the same string). */
  readonly id: Id
  /** Display name: "TopK transcoder". */
  readonly name: string
  /** Short label for tight places (chart legends, table cells). */
  readonly short: string
  /** What TopK selects: singular and plural ("expert", "experts"). */
  readonly unit: { readonly one: string; readonly many: string }
  /** One-paragraph explanation shown in the wizard. */
  readonly help: string
  /** The chart colour slot (var(--chart-N)), stable across pages. */
  readonly chartSlot: number
  /** Whether the kind has a dense hidden layer (config fields `hidden` and `act`, cfg.json `hidden`). */
  readonly usesHidden: boolean
  /** The config field that sets the width: `experts` (MxD) or `width` (transcoders). */
  readonly widthField: 'experts' | 'width'
  /** The wizard's size field: its label and the words for the default choice. */
  readonly sizeField: { readonly label: string; readonly defaultText: string }
  /** The default width, parameter-matched to a 32·d TopK transcoder. */
  defaultWidth(basis: WidthBasis): number
  /** Exact parameter count (= the sum over `tensors`). */
  parameters(size: LayerSize): number
  /** Forward multiply-adds per token (a training step costs about 3× this). */
  forwardMacs(size: LayerSize): number
  /** The hook point name of the post-TopK code of a layer spliced into block `block`. */
  codesHook(block: number): string
  readonly file: {
    /** cfg.json's field that holds the width. */
    readonly widthKey: 'n_experts' | 'd_sae'
    /** cfg.json's "activation" for a layer of this size. */
    activation(size: LayerSize): LayerActivation
    /** The activations cfg.json may name for this kind. */
    readonly activations: readonly LayerActivation[]
    /** Every tensor of the safetensors file, by name, with its shape. */
    tensors(size: LayerSize): Record<string, number[]>
    /** The parameter whose rows are kept at unit L2 norm (the decoder). */
    readonly unitNorm: string
    /**
     * SAELens-style folders (no format_version) whose "architecture" is one of these are read as
     * this kind; when several kinds accept one name, the one whose tensor names the file holds wins.
     */
    readonly saelensArchitectures: readonly string[]
  }
}
