/**
 * `gradcam/metrics`: faithfulness and localisation metrics for explanations, one file per metric family,
 * and their building blocks (perturbation baselines, imputation, curves, reports). The main entry
 * exports only `evaluate`.
 * @module gradcam/metrics
 */
export * from './common.js';
export * from './confidence.js';
export * from './deletion.js';
export * from './road.js';
export * from './pointing.js';
export * from './baselines.js';
export * from './evaluate.js';
export * from './report.js';
