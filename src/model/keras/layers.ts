/**
 * Keras preprocessing and augmentation layers as small TF.js layers, so that they run inside the
 * model as they do in Keras. They are registered under names of their own (`KerasRescaling`, …; the
 * config translation renames the classes) and report the Keras class name from `getClassName()`:
 * TF.js's own `Rescaling`/`Resizing`/`CenterCrop` differ from Keras (align-corners resizing, a 3-D
 * output shape, an off-by-one crop) and stay what other TF.js models use. (Custom objects passed to
 * `modelFromJSON` would not do: tfjs-layers drops them inside nested Sequential models.)
 */
import * as tf from '@tensorflow/tfjs';

type Kwargs = Record<string, unknown>;
type Shape = (number | null)[];
type Args = Record<string, unknown> & { name?: string };

const one = (x: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(x) ? x[0] : x);
const oneShape = (s: Shape | Shape[]): Shape => (Array.isArray(s[0]) ? (s[0] as Shape) : (s as Shape));

/** Keras Rescaling: `x * scale + offset` (scalars or per-channel lists). */
export class KerasRescaling extends tf.layers.Layer {
  static className = 'KerasRescaling';
  override getClassName(): string {
    return 'Rescaling';
  }
  readonly scale: number | number[];
  readonly offset: number | number[];
  constructor(args: Args) {
    super(args);
    this.scale = (args.scale as number | number[]) ?? 1;
    this.offset = (args.offset as number | number[]) ?? 0;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => tf.add(tf.mul(tf.cast(one(inputs), 'float32'), this.scale), this.offset));
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale, offset: this.offset };
  }
}

/** Central crop of `[h, w]` to the aspect ratio `th : tw` (Keras `crop_to_aspect_ratio`). */
function cropToAspect(x: tf.Tensor4D, th: number, tw: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  const ch = Math.min(h, Math.round((w * th) / tw));
  const cw = Math.min(w, Math.round((h * tw) / th));
  if (ch === h && cw === w) return x;
  return tf.slice(x, [0, Math.floor((h - ch) / 2), Math.floor((w - cw) / 2), 0], [-1, ch, cw, -1]);
}

/** Resizes like TensorFlow's `tf.image.resize` (half-pixel centres), which Keras uses. */
function resize(x: tf.Tensor4D, h: number, w: number, interpolation: string): tf.Tensor4D {
  if (x.shape[1] === h && x.shape[2] === w) return x;
  return interpolation === 'nearest'
    ? tf.image.resizeNearestNeighbor(x, [h, w], false, true)
    : tf.image.resizeBilinear(x, [h, w], false, true);
}

/** Keras Resizing (bilinear or nearest; optional crop to the aspect ratio first). */
export class KerasResizing extends tf.layers.Layer {
  static className = 'KerasResizing';
  override getClassName(): string {
    return 'Resizing';
  }
  readonly height: number;
  readonly width: number;
  readonly interpolation: string;
  readonly cropToAspectRatio: boolean;
  constructor(args: Args) {
    super(args);
    this.height = args.height as number;
    this.width = args.width as number;
    this.interpolation = (args.interpolation as string) ?? 'bilinear';
    this.cropToAspectRatio = !!args.cropToAspectRatio;
    if (this.interpolation !== 'bilinear' && this.interpolation !== 'nearest') {
      throw new Error(`interpolation '${this.interpolation}' is not supported (bilinear, nearest)`);
    }
    if (args.padToAspectRatio) throw new Error('pad_to_aspect_ratio is not supported');
  }
  override computeOutputShape(s: Shape | Shape[]): Shape {
    const shape = oneShape(s);
    return [shape[0], this.height, this.width, shape[3]];
  }
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      let x = one(inputs) as tf.Tensor4D;
      if (this.cropToAspectRatio) x = cropToAspect(x, this.height, this.width);
      return resize(x, this.height, this.width, this.interpolation);
    });
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), height: this.height, width: this.width, interpolation: this.interpolation, cropToAspectRatio: this.cropToAspectRatio };
  }
}

/** Keras CenterCrop: the central `height × width`, or (input smaller) crop to aspect and resize up. */
export class KerasCenterCrop extends tf.layers.Layer {
  static className = 'KerasCenterCrop';
  override getClassName(): string {
    return 'CenterCrop';
  }
  readonly height: number;
  readonly width: number;
  constructor(args: Args) {
    super(args);
    this.height = args.height as number;
    this.width = args.width as number;
  }
  override computeOutputShape(s: Shape | Shape[]): Shape {
    const shape = oneShape(s);
    return [shape[0], this.height, this.width, shape[3]];
  }
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs) as tf.Tensor4D;
      const [, h, w] = x.shape;
      if (h >= this.height && w >= this.width) {
        const top = Math.floor((h - this.height) / 2);
        const left = Math.floor((w - this.width) / 2);
        return tf.slice(x, [0, top, left, 0], [-1, this.height, this.width, -1]);
      }
      return resize(cropToAspect(x, this.height, this.width), this.height, this.width, 'bilinear');
    });
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), height: this.height, width: this.width };
  }
}

/**
 * Keras Normalization: `(x − mean) / max(√variance, 1e-7)` (or the inverse), mean and variance from
 * the config or from the weights file (`adapt()`), broadcast along `axis` (default the channels).
 */
export class KerasNormalization extends tf.layers.Layer {
  static className = 'KerasNormalization';
  override getClassName(): string {
    return 'Normalization';
  }
  readonly axis: number[];
  readonly invert: boolean;
  private readonly given?: { mean: number | number[]; variance: number | number[] };
  private meanVar?: tf.LayerVariable;
  private varianceVar?: tf.LayerVariable;
  constructor(args: Args) {
    super(args);
    const axis = args.axis === undefined ? -1 : args.axis;
    this.axis = axis == null ? [] : Array.isArray(axis) ? (axis as number[]) : [axis as number];
    this.invert = !!args.invert;
    if (args.mean != null && args.variance != null) {
      this.given = { mean: args.mean as number | number[], variance: args.variance as number | number[] };
    }
  }
  /** Shape of mean/variance: the kept axes of the input, as Keras stores them. */
  private keptShape(inputShape: Shape): number[] {
    const rank = inputShape.length;
    return this.axis.map((a) => inputShape[a < 0 ? a + rank : a] ?? 1);
  }
  private broadcastShape(inputShape: Shape): number[] {
    const rank = inputShape.length;
    const keep = this.axis.map((a) => (a < 0 ? a + rank : a));
    return inputShape.map((d, i) => (keep.includes(i) ? (d ?? 1) : 1));
  }
  override build(s: Shape | Shape[]): void {
    const shape = oneShape(s);
    if (!this.given) {
      const kept = this.keptShape(shape);
      this.meanVar = this.addWeight('mean', kept, 'float32', tf.initializers.zeros(), undefined, false);
      this.varianceVar = this.addWeight('variance', kept, 'float32', tf.initializers.ones(), undefined, false);
    }
    this.built = true;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = tf.cast(one(inputs), 'float32');
      const b = this.broadcastShape(x.shape);
      // Scalars broadcast; per-channel values are laid along the kept axes.
      const shaped = (v: tf.Tensor) => (v.size === 1 ? v.reshape([]) : v.reshape(b));
      const mean = shaped(this.given ? tf.tensor(this.given.mean) : this.meanVar!.read());
      const variance = shaped(this.given ? tf.tensor(this.given.variance) : this.varianceVar!.read());
      const std = tf.maximum(tf.sqrt(variance), 1e-7);
      return this.invert ? tf.add(tf.mul(x, std), mean) : tf.div(tf.sub(x, mean), std);
    });
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis, invert: this.invert, ...(this.given ?? {}) };
  }
}

/** A layer that is the identity at inference (random augmentation); reports its Keras class (`kerasClass`). */
export class KerasIdentity extends tf.layers.Layer {
  static className = 'KerasIdentity';
  readonly kerasClass: string;
  constructor(args: Args) {
    super(args);
    this.kerasClass = (args.kerasClass as string) ?? 'Identity';
  }
  override getClassName(): string {
    return this.kerasClass;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return one(inputs);
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), kerasClass: this.kerasClass };
  }
}

/** Keras augmentation layers (active only in training) and other layers that are the identity when predicting. */
export const AUGMENTATION_LAYERS = [
  'RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomContrast', 'RandomTranslation', 'RandomCrop',
  'RandomBrightness', 'RandomHeight', 'RandomWidth', 'RandomGrayscale', 'RandomHue', 'RandomSaturation',
  'RandomSharpness', 'RandomShear', 'RandomColorJitter', 'RandomColorDegeneration', 'RandomInvert',
  'RandomPosterization', 'RandomErasing', 'RandomGaussianBlur', 'RandomPerspective', 'RandomElasticTransform',
  'AutoContrast', 'Solarization', 'AugMix', 'RandAugment', 'CutMix', 'MixUp',
  // Keras 2 / TF 2.x names and the other training-only layers
  // identities at inference that are not augmentation
  'ActivityRegularization', 'Identity',
];

/** Arithmetic of a tensor with a constant. */
export type ScalarOpName = 'add' | 'sub' | 'mul' | 'div';

/**
 * `x ∘ c` or `c ∘ x` for a constant `c`: what `preprocess_input(x)` (`x / 127.5 - 1`) or `x / 255` leave in a
 * functional model (Keras 2 `TFOpLambda` layers, Keras 3 `keras.ops` nodes). Reports the Keras class.
 */
export class KerasScalarOp extends tf.layers.Layer {
  static className = 'KerasScalarOp';
  readonly op: ScalarOpName;
  readonly scalar: number;
  readonly scalarFirst: boolean;
  readonly kerasClass: string;
  constructor(args: Args) {
    super(args);
    this.op = args.op as ScalarOpName;
    this.scalar = args.scalar as number;
    this.scalarFirst = !!args.scalarFirst;
    this.kerasClass = (args.kerasClass as string) ?? 'TFOpLambda';
  }
  override getClassName(): string {
    return this.kerasClass;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = tf.cast(one(inputs), 'float32');
      const c = tf.scalar(this.scalar);
      const [a, b] = this.scalarFirst ? [c, x] : [x, c];
      switch (this.op) {
        case 'add': return tf.add(a, b);
        case 'sub': return tf.sub(a, b);
        case 'mul': return tf.mul(a, b);
        default: return tf.div(a, b);
      }
    });
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), op: this.op, scalar: this.scalar, scalarFirst: this.scalarFirst, kerasClass: this.kerasClass };
  }
}

for (const cls of [KerasRescaling, KerasResizing, KerasCenterCrop, KerasNormalization, KerasIdentity, KerasScalarOp]) tf.serialization.registerClass(cls);

/** Keras class → the registered TF.js class that implements it (augmentation: the identity). */
export function tfjsClassFor(kerasClass: string): string | undefined {
  if (AUGMENTATION_LAYERS.includes(kerasClass)) return 'KerasIdentity';
  if (/^(Rescaling|Resizing|CenterCrop|Normalization)$/.test(kerasClass)) return `Keras${kerasClass}`;
  return undefined;
}
