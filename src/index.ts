/**
 * gradcam — Grad-CAM and its family of visual explanations for TensorFlow.js.
 *
 * The pipeline, one folder each: `model/` (loading, the ExplainableModel seam) → `targets/` (what a
 * map explains) → `core/` (the shared CAM machinery; knows no method by name) → `methods/` (one file
 * per method, and the registry) → `render/` (colormaps, overlays, JSON) → `metrics/`. This entry
 * point works in the browser and in Node; `gradcam/node` adds file and URL loading with a cache,
 * image decoding, the wasm backend and training; `gradcam/metrics` has every metric's building blocks.
 * @module gradcam
 */
/** Explaining: `explain` (any method, targets, layers), Guided Grad-CAM, and plain classification. */
export { explain, guidedGradcam, resolveMethod } from './explain.js';
export type { ExplainOptions } from './explain.js';
export { classify } from './core/explain.js';
export type { CoreExplainOptions } from './core/explain.js';
export type { Grid, ImageExplanation, LayerMap, Prediction, TargetExplanation } from './core/types.js';
export type { ImageInput, RgbImage } from './core/image.js';
export { preprocess } from './core/image.js';
export { guidedBackprop, combineGuided, guidedImage, saliencyImage } from './core/guided.js';
export type { GuidedOptions, GuidedTarget } from './core/guided.js';
/** Methods: the registry, and what a custom method implements. */
export { termsSum, weightedSum } from './core/method.js';
export type { ActivationMethod, CamMethod, CamOutput, GradientMethod, PerturbationContext, PerturbationMethod } from './core/method.js';
export { methods, getMethod } from './methods/index.js';
export type { MethodName } from './methods/index.js';
/** Targets: score functions over the model's outputs. */
export { binary, classTarget, contrast, negated, output, parseTarget, probability, resolveClass, resolveOutput, segment, similarTo, TARGET_FORMS, topK } from './targets/index.js';
export type { OutputOption, ParseOptions, SegmentMask, Target, TargetSpec } from './targets/index.js';
/** Models: loading and the seam every format implements. */
export { DEFAULT_MODEL_URL, labelsFor, loadModelFromFiles, loadModelFromUrl, modelFromArtifacts, wrapModel } from './model/load.js';
export { loadModelFromBytes, KERAS_FILE } from './model/load.js';
export type { LoadOptions, ModelMetadata } from './model/load.js';
export { GradcamError } from './model/types.js';
export type { ExplainableModel, FinalActivation, LayerInfo, OutputInfo, Preprocessing, RankMasks, SplitRun } from './model/types.js';
export { isSpatial, shapeText } from './model/layers.js';
/** Rendering. */
export { colormapNames, colormapTable } from './render/colormap.js';
export type { ColormapName } from './render/colormap.js';
export { colorize, overlay } from './render/overlay.js';
export { escapeHtml } from './render/html.js';
export type { RenderOptions } from './render/overlay.js';
export { gridRows, toJson } from './render/json.js';
export type { ExplanationJson, TargetJson } from './render/json.js';
/** Reports: the audit of a dataset and the compare grid (data; the CLI renders them). */
export { audit } from './report/audit.js';
export type { AuditEntry, AuditGroup, AuditItem, AuditOptions, AuditResult } from './report/audit.js';
export { compareGrid, targetTitle } from './report/compare.js';
export type { CompareOptions, CompareTile } from './report/compare.js';
/** Evaluation: every metric for every method (the metrics themselves: `gradcam/metrics`). */
export { evaluate, METRICS } from './metrics/evaluate.js';
export type { EvalImage, EvaluateOptions, EvalResult, MethodResult, CaseResult, MetricName } from './metrics/evaluate.js';
export { defaultExplanation, detect, detectBoxes, detectionTargets, inBox, toDetector, DEFAULT_EXPLANATION } from './detect/detect.js';
export { classColor } from './detect/render.js';
export type { Detection } from './detect/decode.js';
export type { LayoutName, LayoutRoles, RawDetection, ScoreCell } from './detect/layouts.js';
export type { Box } from './detect/nms.js';
export type { DetectorConfig, DetectorSettings } from './detect/config.js';
export type { DetectionTarget } from './detect/targets.js';
export type { DetectOptions, Detector, ExplainedDetection, ImageDetections } from './detect/detect.js';
