/**
 * Keras files read directly: the real models in ../shared/models/keras against their numpy
 * references (probabilities and Grad-CAM at the reference layer), and bad files (one-line errors,
 * no tensor leaks, other images of a CLI batch unaffected).
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { explain } from '../src/explain.js';
import { initBackend } from '../src/node/backend.js';
import { readImage } from '../src/node/image.js';
import { loadModel } from '../src/node/load.js';
import { loadModelFromBytes, loadModelFromFiles } from '../src/model/load.js';
import { GradcamError, type ExplainableModel } from '../src/model/types.js';
import { pearson, runCli, SHARED_DIR } from './helpers.js';

const KERAS = path.join(SHARED_DIR, 'models', 'keras');
const POTATO = path.join(KERAS, 'potato.keras');
const DOGSCATS = path.join(KERAS, 'dogscats.h5');

interface Reference {
  input_range: [number, number];
  layer: string;
  logits: number[];
  probabilities: number[];
  targets: { classIndex: number; cam_norm: number[][] }[];
}

const references = (stem: string) => {
  const dir = path.join(KERAS, 'references', stem);
  return ['cat_dog', 'chelsea', 'vegetables', 'both']
    .filter((s) => existsSync(path.join(dir, `${s}.json`)))
    .map((s) => ({ image: s, png: path.join(dir, 'inputs', `${s}.png`), ref: JSON.parse(readFileSync(path.join(dir, `${s}.json`), 'utf8')) as Reference }));
};

describe('Keras models from ../shared/models/keras', () => {
  const models = new Map<string, ExplainableModel>();
  const warnings: string[] = [];
  beforeAll(async () => {
    await initBackend('wasm');
    models.set('potato', await loadModel(POTATO, { onWarning: (m) => warnings.push(m) }));
    // Its predict.py feeds raw 0–255 grey pixels; the model itself does not say so (no Rescaling).
    models.set('dogscats', await loadModel(DOGSCATS, { preprocessing: { range: [0, 255] } }));
  });

  it('take size, channels and range from the model', async () => {
    const potato = models.get('potato')!;
    expect(potato.preprocessing).toMatchObject({ size: [256, 256], range: [0, 255] }); // starts with Rescaling: raw pixels
    expect(potato.preprocessing.channels ?? 3).toBe(3);
    expect(warnings).toEqual([]);
    expect(potato.layers.map((l) => `${l.name}:${l.type}`).slice(0, 5)).toEqual([
      'sequential/resizing:Resizing', 'sequential/rescaling:Rescaling', 'sequential_1/random_flip:RandomFlip',
      'sequential_1/random_rotation:RandomRotation', 'conv2d:Conv2D',
    ]);
    const dogscats = models.get('dogscats')!;
    expect(dogscats.preprocessing).toMatchObject({ size: [60, 60], channels: 1, range: [0, 255] });
    // Without a range, [0, 1] and one warning saying how to set it.
    const said: string[] = [];
    const guessed = await loadModel(DOGSCATS, { onWarning: (m) => said.push(m) });
    expect(guessed.preprocessing.range).toEqual([0, 1]);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/dogscats\.h5: .*\[0, 1\].*--input-range/);
    guessed.dispose();
  });

  it('load from a File or bytes (browser path), Keras by extension or by its first bytes', async () => {
    const bytes = new Uint8Array(readFileSync(POTATO));
    const fromFile = await loadModelFromFiles([new File([bytes], 'potato.keras')], { labels: ['Early blight', 'Late blight', 'healthy'] });
    expect(fromFile.source).toBe('potato.keras');
    expect(fromFile.labels).toEqual(['Early blight', 'Late blight', 'healthy']);
    expect(fromFile.preprocessing.range).toEqual([0, 255]);
    fromFile.dispose();
    const fromBytes = await loadModelFromBytes(bytes.buffer.slice(0), 'upload.bin'); // no extension: the zip signature says it
    expect(fromBytes.layers.length).toBe(models.get('potato')!.layers.length);
    fromBytes.dispose();
    await expect(loadModelFromBytes(new TextEncoder().encode('{"format": "layers-model"}'), 'model.bin')).rejects.toThrow(/^model\.bin: not a model file/);
  });

  it('metadata.json beside the file gives labels and the input range', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-keras-meta-'));
    const file = path.join(dir, 'cats_dogs.h5');
    writeFileSync(file, readFileSync(DOGSCATS));
    writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify({ labels: ['Cat', 'Dog'], preprocessing: { range: [0, 255] } }));
    const said: string[] = [];
    const m = await loadModel(file, { onWarning: (w) => said.push(w) });
    expect(m.labels).toEqual(['Cat', 'Dog']);
    expect(m.preprocessing).toMatchObject({ range: [0, 255], channels: 1 });
    expect(said).toEqual([]);
    m.dispose();
  });

  it('load from an http(s) URL, downloaded once into the cache', async () => {
    const { createServer } = await import('node:http');
    let requests = 0;
    const server = createServer((req, res) => { requests++; res.end(readFileSync(POTATO)); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const cache = mkdtempSync(path.join(os.tmpdir(), 'gradcam-keras-cache-'));
    const saved = process.env.GRADCAM_CACHE;
    process.env.GRADCAM_CACHE = cache;
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/models/potato.keras?v=1`;
      for (let i = 0; i < 2; i++) {
        const m = await loadModel(url);
        expect(m.source).toBe(url);
        expect(m.preprocessing.size).toEqual([256, 256]);
        m.dispose();
      }
      expect(requests).toBe(1);
    } finally {
      if (saved === undefined) delete process.env.GRADCAM_CACHE; else process.env.GRADCAM_CACHE = saved;
      server.close();
    }
  });

  for (const stem of ['potato', 'dogscats']) {
    for (const { image, png, ref } of references(stem)) {
      it(`${stem} / ${image}: probabilities ≤ 1e-4 and Grad-CAM at ${ref.layer} (Pearson ≥ 0.99)`, async () => {
        const model = models.get(stem)!;
        expect(model.preprocessing.range).toEqual(ref.input_range);
        const before = tf.memory().numTensors;
        const [result] = await explain(model, [await readImage(png)], { layer: ref.layer, targets: ref.targets.map((t) => t.classIndex) });
        expect(tf.memory().numTensors).toBe(before);
        for (const [i, t] of result.targets.entries()) {
          expect(Math.abs(t.probability - ref.probabilities[t.classIndex])).toBeLessThanOrEqual(1e-4);
          const want = ref.targets[i].cam_norm.flat();
          expect(t.cam.data.length).toBe(want.length);
          if (want.every((v) => v === 0)) {
            expect(t.noEvidence).toBe(true); // no positive evidence for the class at this layer
          } else {
            expect(pearson(t.cam.data, want)).toBeGreaterThanOrEqual(0.99);
          }
        }
      });
    }
  }
});

describe('bad Keras files', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-keras-'));
  const potato = new Uint8Array(readFileSync(POTATO));
  const entries = unzipSync(potato);
  /** The same `.keras` with one member changed. */
  const rezip = (name: string, change: (b: Uint8Array) => Uint8Array) => zipSync({ ...entries, [name]: change(entries[name]) });
  /** Same-length byte replacement (renames an HDF5 attribute or group in place). */
  const replaceBytes = (b: Uint8Array, from: string, to: string) => {
    const out = Buffer.from(b);
    let n = 0;
    for (let i = out.indexOf(from, 0, 'latin1'); i >= 0; i = out.indexOf(from, i + 1, 'latin1'), n++) out.write(to, i, 'latin1');
    expect(n).toBeGreaterThan(0);
    return new Uint8Array(out);
  };
  const files: Record<string, { bytes: Uint8Array; problem: RegExp }> = {
    'truncated.keras': { bytes: potato.slice(0, 200_000), problem: /truncated or corrupt/ },
    'weights_only.h5': { bytes: replaceBytes(new Uint8Array(readFileSync(DOGSCATS)), 'model_config', 'model_cmnfig'), problem: /no model_config/ },
    'unknown_layer.keras': {
      bytes: rezip('config.json', (b) => strToU8(strFromU8(b).replace('"class_name": "Flatten"', '"class_name": "FancyFlatten"'))),
      problem: /layer 'flatten' \(FancyFlatten\): unknown layer class/,
    },
    'lambda.keras': {
      bytes: rezip('config.json', (b) => strToU8(strFromU8(b).replace('"class_name": "Flatten"', '"class_name": "Lambda"'))),
      problem: /layer 'flatten' \(Lambda\): Python code/,
    },
    'missing_variable.keras': {
      bytes: rezip('model.weights.h5', (b) => replaceBytes(b, 'dense_1', 'dense_9')),
      problem: /layer 'dense_1' \(Dense\): the weights file has no layers\/dense_1\/vars/,
    },
    'shape_mismatch.keras': {
      bytes: rezip('config.json', (b) => strToU8(strFromU8(b).replace('"units": 3, "activation": "softmax"', '"units": 4, "activation": "softmax"'))),
      problem: /layer 'dense_1' \(Dense\): weight 0 \(kernel\) has shape \[64, 4\] in the model but \[64, 3\] in the file/,
    },
    'count_mismatch.keras': {
      bytes: rezip('config.json', (b) => strToU8(strFromU8(b).replace('"units": 3, "activation": "softmax", "use_bias": true', '"units": 3, "activation": "softmax", "use_bias": false'))),
      problem: /layer 'dense_1' \(Dense\): the model has 1 weight but layers\/dense_1\/vars holds 2/,
    },
    'not_a_model.h5': { bytes: strToU8('hello, I am not HDF5 at all'), problem: /not a Keras model file/ },
  };
  for (const [name, f] of Object.entries(files)) writeFileSync(path.join(dir, name), f.bytes);

  beforeAll(() => initBackend('wasm'));

  for (const [name, f] of Object.entries(files)) {
    it(`${name}: one-line error naming the file and the problem, no tensor leak`, async () => {
      const before = tf.memory().numTensors;
      const file = path.join(dir, name);
      const err = await loadModel(file).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(GradcamError);
      const msg = (err as Error).message;
      expect(msg.startsWith(`${file}: `)).toBe(true);
      expect(msg).not.toContain('\n');
      expect(msg).toMatch(f.problem);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('CLI: a bad model is one error line; with a good one, a bad image does not stop the others', async () => {
    const bad = await runCli(['layers', '--model', path.join(dir, 'unknown_layer.keras')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: .*unknown_layer\.keras: layer 'flatten' \(FancyFlatten\)/)]);

    const out = path.join(dir, 'out');
    const good = path.join(KERAS, 'references', 'potato', 'inputs', 'chelsea.png');
    const broken = path.join(dir, 'broken.png');
    writeFileSync(broken, 'not a png');
    const run = await runCli(['explain', broken, good, '--model', POTATO, '--labels', 'Early blight,Late blight,healthy', '--out', out]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: .*broken\.png: /m);
    const json = JSON.parse(readFileSync(path.join(out, 'chelsea.json'), 'utf8'));
    expect(JSON.stringify(json)).toContain('Late blight');
    expect(existsSync(path.join(out, 'broken.json'))).toBe(false);
  }, 60_000);
});
