/** Node: loads a detector GraphModel folder (model.json, shards, optional metadata.json) as a {@link GraphRunner}. */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { GradcamError } from '../model/types.js';
import type { DetectorSettings } from './config.js';
import type { GraphNode } from './graph.js';
import { GraphRunner } from './runner.js';

export interface LoadedDetector { runner: GraphRunner; settings: DetectorSettings }

export async function loadDetectorGraph(source: string): Promise<LoadedDetector> {
  const info = await stat(source).catch(() => undefined);
  if (!info) throw new GradcamError('model not found', source);
  const jsonPath = info.isDirectory() ? path.join(source, 'model.json') : source;
  const dir = path.dirname(jsonPath);
  const j = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
  const buffers = await Promise.all(j.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(path.join(dir, p))));
  const b = Buffer.concat(buffers);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: j.modelTopology, format: j.format, signature: j.signature as object,
    weightSpecs: j.weightsManifest.flatMap((g) => g.weights), weightData: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer,
  };
  const g = await tf.loadGraphModel({ load: async () => artifacts });
  const nodes = (j.modelTopology as { node: GraphNode[] }).node;
  let settings: DetectorSettings = {};
  for (const m of [path.join(dir, 'metadata.json'), jsonPath.replace(/\.json$/, '') + '.meta.json']) {
    if (existsSync(m)) {
      const meta = JSON.parse(await readFile(m, 'utf8')) as { detector?: DetectorSettings; labels?: string[] };
      settings = { ...meta.detector, ...(meta.labels ? { labels: meta.labels } : {}) };
    }
  }
  const name = path.basename(info.isDirectory() ? source : dir);
  return { runner: new GraphRunner(g, nodes, name, source), settings };
}
