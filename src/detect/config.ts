/**
 * A detector's configuration: its layout (which outputs are what), thresholds, input preprocessing
 * and labels, from (in increasing priority) the layout's defaults, the model's metadata
 * (`metadata.json` / `<model>.json` beside it, key `detector`) and the caller's options.
 */
import { GradcamError, type Preprocessing } from '../model/types.js';
import { COCO_LABELS } from './labels.js';
import { checkLayout, recogniseLayout, type LayoutName, type LayoutRoles } from './layouts.js';

/** The `detector` section of a model's metadata, and the options of `detect` (every field optional). */
export interface DetectorSettings {
  /** Output layout; recognised from the outputs' shapes when omitted. */
  layout?: LayoutName;
  /** Detections scoring below this are dropped (before NMS). */
  minScore?: number;
  /** NMS IoU threshold. */
  iou?: number;
  /** At most this many detections per image. */
  maxDetections?: number;
  /** NMS across classes (default true for CenterNet and anchor-free heads, false for YOLO). */
  classAgnostic?: boolean;
  /** CenterNet: at most this many heatmap peaks before NMS (default 100). */
  topK?: number;
  /** Explicit output roles (indices into the model's outputs), overriding recognition. */
  roles?: LayoutRoles;
  /** Pixel range the network expects (0..255 mapped onto it), e.g. `[0, 255]` for CenterNet. */
  range?: [number, number];
  /** Network input `[height, width]` (default: from the graph). */
  size?: [number, number];
  /** Class names (default: COCO's 80 when the model has 80 classes). */
  labels?: string[];
}

/** A resolved configuration. */
export interface DetectorConfig {
  layout: LayoutName;
  roles: LayoutRoles;
  minScore: number;
  iou: number;
  maxDetections: number;
  classAgnostic: boolean;
  topK: number;
  preprocessing: Preprocessing;
  labels: string[];
}

/** Defaults per layout: the two shared detectors' own post-processing, Ultralytics' for YOLO. */
export const LAYOUT_DEFAULTS: Record<LayoutName, { minScore: number; iou: number; maxDetections: number; classAgnostic: boolean; range: [number, number] }> = {
  centernet: { minScore: 0.2, iou: 0.4, maxDetections: 10, classAgnostic: true, range: [0, 255] },
  'anchor-free': { minScore: 0.3, iou: 0.5, maxDetections: 20, classAgnostic: true, range: [0, 1] },
  yolov8: { minScore: 0.25, iou: 0.45, maxDetections: 100, classAgnostic: false, range: [0, 1] },
  yolov5: { minScore: 0.25, iou: 0.45, maxDetections: 100, classAgnostic: false, range: [0, 1] },
};

/** Number of classes a layout's outputs hold. */
export function classCount(roles: LayoutRoles, outputs: { shape: readonly (number | null)[] }[]): number {
  const last = (i: number) => outputs[i].shape[outputs[i].shape.length - 1] ?? 0;
  switch (roles.layout) {
    case 'centernet': return last(roles.heatmap);
    case 'anchor-free': return last(roles.levels[0].scores);
    case 'yolov8': return (outputs[roles.output].shape[1] ?? 4) - 4;
    case 'yolov5': return last(roles.output) - 5;
  }
}

/**
 * Resolves a detector's configuration from its outputs and input size, its metadata and options.
 * Throws a {@link GradcamError} saying the model is not a detector when no layout fits.
 */
export function resolveDetector(
  model: { name: string; outputs: { name: string; shape: readonly (number | null)[] }[] },
  inputSize: [number, number],
  base: Omit<Preprocessing, 'size'> & { size?: [number, number] },
  ...settings: (DetectorSettings | undefined)[]
): DetectorConfig {
  const s: DetectorSettings = Object.assign({}, ...settings.filter(Boolean));
  const size = s.size ?? inputSize;
  const want = s.layout ? checkLayout(s.layout) : undefined;
  const roles = s.roles ?? recogniseLayout(model.outputs, size, want, s.labels?.length);
  if (!roles) {
    const shapes = model.outputs.map((o) => `[${o.shape.map((d) => d ?? '?').join(', ')}]`).join(', ');
    throw new GradcamError(want
      ? `the outputs ${shapes} do not fit the '${want}' layout`
      : `not a detector: its outputs ${shapes} match no detector layout (centernet, anchor-free, yolov8, yolov5); use \`explain\` for classifiers, or give --layout`, model.name);
  }
  const d = LAYOUT_DEFAULTS[roles.layout];
  const classes = classCount(roles, model.outputs);
  const labels = s.labels ?? (classes === 80 ? COCO_LABELS : Array.from({ length: classes }, (_, i) => `class ${i}`));
  if (labels.length !== classes) throw new GradcamError(`the detector has ${classes} classes but ${labels.length} labels were given`, model.name);
  return {
    layout: roles.layout,
    roles,
    minScore: s.minScore ?? d.minScore,
    iou: s.iou ?? d.iou,
    maxDetections: s.maxDetections ?? d.maxDetections,
    classAgnostic: s.classAgnostic ?? d.classAgnostic,
    topK: s.topK ?? 100,
    preprocessing: { ...base, size, range: s.range ?? d.range, resize: 'squash' },
    labels,
  };
}
