/**
 * gradcam — Grad-CAM and its family of visual explanations for TensorFlow.js.
 *
 * The pipeline, one folder each: `model/` (loading, layer discovery) → `core/` (the shared CAM
 * machinery) → `methods/` (one file per method) → `targets/` → `render/` (colormaps, overlays,
 * JSON) → `metrics/`. This entry point works in the browser and in Node; `gradcam/node` adds file
 * and URL loading with a cache, image decoding and the wasm backend.
 * @module gradcam
 */
export { explain, classify } from './core/explain.js';
export type { ExplainOptions, ImageExplanation, TargetExplanation, Prediction, Grid } from './core/explain.js';
export type { ImageInput, RgbImage } from './core/image.js';
export { preprocess } from './core/image.js';
export { guidedBackprop, guidedGradcam, combineGuided, saliencyImage } from './core/guided.js';
export type { GuidedOptions, GuidedTarget } from './core/guided.js';
export { termsSum, weightedSum } from './core/method.js';
export type { CamContext, CamMethod, CamOutput } from './core/method.js';
export { methods, getMethod } from './methods/index.js';
export type { MethodName } from './methods/index.js';
export { resolveClass, topK, classScores } from './targets/index.js';
export type { TargetSpec } from './targets/index.js';
export { DEFAULT_MODEL_URL, labelsFor, loadModelFromFiles, loadModelFromUrl, modelFromArtifacts, wrapModel } from './model/load.js';
export type { LoadOptions, ModelMetadata } from './model/load.js';
export { GradcamError } from './model/types.js';
export type { ExplainableModel, LayerInfo, Preprocessing, SplitRun } from './model/types.js';
export { shapeText } from './model/layers.js';
export { colormapNames, colormapTable } from './render/colormap.js';
export type { ColormapName } from './render/colormap.js';
export { colorize, overlay } from './render/overlay.js';
export type { RenderOptions } from './render/overlay.js';
export { gridRows, toJson } from './render/json.js';
export type { ExplanationJson, TargetJson } from './render/json.js';
export { evaluate, METRICS, confidenceChange, averageDrop, increaseInConfidence, deletionInsertion, road, imputeNoisyLinear, ROAD_PERCENTAGES, pointingHit, boxDistance, energyInBoxes, borderShare, randomBaseline, centreBaseline, inputMap, baselineImage, auc, evalMarkdown, evalJson, curvesSvg, metricRows } from './metrics/index.js';
export type { EvalImage, EvaluateOptions, EvalResult, MethodResult, CaseResult, MetricName, MetricCase, PerturbBaseline, ConfidenceScore, DeletionOptions, DeletionScore, RoadOptions, RoadScore, Box } from './metrics/index.js';
