/**
 * Entry of the standalone browser bundle (`dist/gradcam.browser.js`): the isomorphic API plus the
 * TF.js it was built with, as `tf`, since a page without a bundler has no other way to reach it
 * (to choose a backend, or to check `tf.memory()`).
 */
export * from '../src/index.js';
export * as tf from '@tensorflow/tfjs';
