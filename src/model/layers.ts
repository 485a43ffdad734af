import { GradcamError, type ExplainableModel, type LayerInfo } from './types.js';

/** `[7,7,768]`-style shape text without the batch dimension. */
export const shapeText = (l: LayerInfo) => `[${l.shape.slice(1).map((d) => d ?? '?').join(',')}]`;

/** Whether a layer's output has spatial extent (h×w > 1). */
export const isSpatial = (l: LayerInfo) => (l.shape[1] ?? 2) * (l.shape[2] ?? 2) > 1;

/** The layer `layer: 'auto'` picks: the last with a spatial 4-D output (layers are in execution order); '' if none. */
export function autoLayer(layers: LayerInfo[]): string {
  return layers.filter(isSpatial).at(-1)?.name ?? '';
}

/**
 * Resolves `'auto'` (or nothing) to the model's default layer, and a name to a layer of the model:
 * the exact name, or the last path segment of a nested layer (`conv_pw_13_relu` for
 * `mobilenet/conv_pw_13_relu`) when that is unambiguous. Throws a {@link GradcamError} that lists the
 * candidates otherwise.
 */
export function resolveLayerName(model: ExplainableModel, name?: string): string {
  const candidates = () => model.layers.map((l) => `${l.name} ${shapeText(l)}`).join(', ');
  if (name === undefined || name === 'auto') {
    if (!model.defaultLayer) {
      throw new GradcamError(`model has no layer with a spatial 4-D output to explain (is it a CNN?); 4-D layers: ${candidates() || 'none'}`, model.source);
    }
    return model.defaultLayer;
  }
  if (model.layers.some((l) => l.name === name)) return name;
  const bySuffix = model.layers.filter((l) => l.name.endsWith(`/${name}`));
  if (bySuffix.length === 1) return bySuffix[0].name;
  if (bySuffix.length > 1) {
    throw new GradcamError(`layer '${name}' is ambiguous: ${bySuffix.map((l) => l.name).join(', ')}`);
  }
  throw new GradcamError(`layer '${name}' not found; layers with a 4-D output: ${candidates()}`);
}
