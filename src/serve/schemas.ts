/** JSON schemas of the HTTP API: they validate requests, shape responses and make the OpenAPI document. */
import { methods } from '../methods/index.js';
import type { ColormapName } from '../render/colormap.js';

const error = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } as const;
const errors = Object.fromEntries([400, 401, 413, 415, 422, 429, 503].map((s) => [s, { ...error, description: 'what is wrong, in one line' }]));

const prediction = {
  type: 'object',
  properties: { classIndex: { type: 'integer' }, className: { type: 'string' }, logit: { type: 'number' }, probability: { type: 'number' } },
  required: ['classIndex', 'className', 'logit', 'probability'],
} as const;

/** `<stem>.json` of `gradcam explain`. */
const explanation = {
  type: 'object',
  description: "the CLI's <stem>.json",
  properties: {
    image: { type: 'string' }, width: { type: 'integer' }, height: { type: 'integer' }, model: { type: 'string' },
    method: { type: 'string' }, layer: { type: 'string' }, layers: { type: 'array', items: { type: 'string' } }, backend: { type: 'string' },
    predictions: { type: 'array', items: prediction },
    targets: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          target: { type: 'string', description: 'the target, e.g. class 282 "tiger cat", contrast 282 − 243' },
          score: { type: 'number', description: 'its score on the image' },
          ...prediction.properties,
          cam: { type: 'array', items: { type: 'array', items: { type: 'number' } }, description: 'the map at the layer resolution, normalised to [0, 1]' },
          peak: { type: ['object', 'null'], properties: { x: { type: 'integer' }, y: { type: 'integer' } } },
          noEvidence: { type: 'boolean' },
          weights: { type: 'array', items: { type: 'number' } },
        },
        required: ['target', 'score', 'cam', 'peak', 'noEvidence'],
      },
    },
  },
  required: ['image', 'width', 'height', 'model', 'method', 'layer', 'backend', 'predictions', 'targets'],
} as const;

const upload = {
  description: 'multipart/form-data with the image as the file field `image`; options may also be sent as fields',
  required: true,
  content: { 'multipart/form-data': { schema: { type: 'object', properties: { image: { type: 'string', format: 'binary' } }, required: ['image'] } } },
};

export interface ExplainQuery {
  class?: string[]; target?: string[]; top?: number; method?: string; layer?: string[]; colormap?: ColormapName; alpha?: number;
  counterfactual?: boolean; weights?: boolean; format?: 'json' | 'png';
}
export interface ClassifyQuery { top?: number }

export const explain = {
  summary: 'Explain one uploaded image',
  description: "Returns the CLI's JSON report, or the overlay PNG of the first target with `format=png` or `Accept: image/png`.",
  consumes: ['multipart/form-data'],
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      class: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 200 }, maxItems: 10, description: 'class name or index (repeatable); default: the top prediction' },
      target: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 200 }, maxItems: 10, description: 'target (repeatable): 282, "tiger cat", contrast:282-243, prob:282, neg:282, segment:15, output:0, binary:positive' },
      top: { type: 'integer', minimum: 1, maximum: 10, description: 'explain the top k classes' },
      method: { type: 'string', enum: Object.keys(methods) },
      layer: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 200 }, maxItems: 4, description: "layer name or 'auto' (repeatable: the maps are averaged)" },
      colormap: { type: 'string', enum: ['jet', 'viridis', 'inferno', 'magma', 'plasma', 'hot', 'rainbow', 'greys'] },
      alpha: { type: 'number', minimum: 0, maximum: 1 },
      counterfactual: { type: 'boolean' },
      weights: { type: 'boolean' },
      format: { type: 'string', enum: ['json', 'png'] },
    },
  },
  response: { 200: explanation, ...errors },
  openapi: { requestBody: upload },
};

export const classify = {
  summary: 'Top-k classes of one uploaded image',
  consumes: ['multipart/form-data'],
  querystring: {
    type: 'object', additionalProperties: false,
    properties: { top: { type: 'integer', minimum: 1, maximum: 100 } },
  },
  response: {
    200: {
      type: 'object',
      properties: { image: { type: 'string' }, width: { type: 'integer' }, height: { type: 'integer' }, model: { type: 'string' }, predictions: { type: 'array', items: prediction } },
    },
    ...errors,
  },
};

export const modelInfo = {
  summary: 'The served model',
  response: {
    200: {
      type: 'object',
      properties: {
        name: { type: 'string' }, format: { type: 'string' }, source: { type: 'string' }, labels: { type: 'integer', description: 'number of classes' },
        inputSize: { type: 'array', items: { type: 'integer' } },
        layers: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, shape: { type: 'array', items: { type: ['integer', 'null'] } } } } },
        outputs: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, shape: { type: 'array', items: { type: ['integer', 'null'] } } } } },
        defaultLayer: { type: 'string' }, methods: { type: 'array', items: { type: 'string' } },
      },
    },
  },
};

export const health = {
  summary: 'Liveness',
  response: { 200: { type: 'object', properties: { status: { type: 'string' }, queued: { type: 'integer' } } } },
};
