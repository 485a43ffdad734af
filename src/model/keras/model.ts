/**
 * A Keras file as an {@link ExplainableModel}: built by {@link buildKerasModel}, explained like any
 * TF.js LayersModel. Input size and channels come from the model; the value range from (in order)
 * the caller, metadata, a leading Rescaling/Normalization layer (raw 0–255 pixels), else [0, 1]
 * with a warning.
 */
import { LayersExplainableModel } from '../layers-model.js';
import { GradcamError, type ExplainableModel, type Preprocessing } from '../types.js';
import { buildKerasModel, isKerasFile, KerasFileError, type KerasModelInfo } from './index.js';

/** Whether bytes look like a Keras file (a zip or an HDF5 file). */
export const isKerasBytes = (bytes: Uint8Array) => isKerasFile('', bytes);

/** Options of {@link loadKerasModel} (a subset of the loaders' `LoadOptions`). */
export interface KerasLoadOptions {
  labels?: string[];
  preprocessing?: Partial<Preprocessing>;
  /** Metadata given beside the file (labels, preprocessing, name). */
  metadata?: KerasModelInfo['metadata'] | { labels?: string[]; classNames?: string[]; classes?: string[]; preprocessing?: Partial<Preprocessing> };
  /** One-line warnings (e.g. the input range is a guess). Default: none. */
  onWarning?: (message: string) => void;
}

/** The range a Keras model's inputs are in, and whether it is a guess. */
function inputRange(info: KerasModelInfo, given?: [number, number]): { range: [number, number]; guessed: boolean } {
  if (given) return { range: given, guessed: false };
  if (info.rescalesInput) return { range: [0, 255], guessed: false };
  return { range: [0, 1], guessed: true };
}

/**
 * Loads a Keras model from the bytes of a `.keras` or `.h5` file (browser and Node). `source` names
 * the file in messages. Errors are {@link GradcamError}s: `<source>: <problem>`.
 */
export async function loadKerasModel(bytes: Uint8Array, source: string, opts: KerasLoadOptions = {}): Promise<ExplainableModel> {
  let built: Awaited<ReturnType<typeof buildKerasModel>>;
  try {
    built = await buildKerasModel(bytes);
  } catch (e) {
    if (e instanceof KerasFileError) throw new GradcamError(e.message, source);
    throw new GradcamError(`cannot load the Keras model: ${(e as Error).message.split('\n')[0]}`, source);
  }
  const { model, info } = built;
  try {
    const meta = { ...info.metadata, ...opts.metadata };
    const metaPre = (meta.preprocessing ?? {}) as Partial<Preprocessing>;
    const shape = model.inputs[0].shape;
    const given = opts.preprocessing?.range ?? metaPre.range;
    const { range, guessed } = inputRange(info, given && !opts.preprocessing?.mean && !metaPre.mean ? given : undefined);
    if (guessed && !opts.preprocessing?.mean && !metaPre.mean && !given) {
      opts.onWarning?.(`${source}: the model does not say which pixel range it expects; using [0, 1] (set it with --input-range, e.g. 0,255 or -1,1)`);
    }
    const preprocessing: Preprocessing = {
      size: [shape[1] && shape[1] > 0 ? shape[1] : 224, shape[2] && shape[2] > 0 ? shape[2] : 224],
      range,
      resize: 'squash',
      ...(shape[3] === 1 ? { channels: 1 as const } : {}),
      ...metaPre,
      ...opts.preprocessing,
    };
    const labels = opts.labels ?? meta.labels ?? meta.classNames ?? meta.classes;
    const name = typeof (meta as { name?: unknown }).name === 'string' ? (meta as { name: string }).name : undefined;
    return new LayersExplainableModel(model, { source, name, labels, preprocessing, format: 'keras' });
  } catch (e) {
    model.dispose();
    throw e instanceof GradcamError ? e : new GradcamError((e as Error).message.split('\n')[0], source);
  }
}
