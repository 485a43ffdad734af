/**
 * The segmentation target on a real segmentation network: `lraspp_mobilenet_v3.onnx` (torchvision LR-ASPP,
 * output [N, 21, 224, 224]) against pytorch-grad-cam's SemanticSegmentationTarget maps in
 * ../shared/reference-onnx (Grad-CAM at the backbone's last block, 14×14).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMask } from '../src/cli/targets.js';
import { explain } from '../src/index.js';
import type { ExplainableModel } from '../src/model/types.js';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { SHARED_DIR, pearson, referenceInput } from './helpers.js';

const MODEL = path.join(SHARED_DIR, 'models', 'onnx', 'lraspp_mobilenet_v3.onnx');
const REF = path.join(SHARED_DIR, 'reference-onnx', 'lraspp_mobilenet_v3');

await initBackend('wasm');
const m: ExplainableModel = await loadModel(MODEL);

interface Ref { image_stem: string; target: { classIndex: number; mask: string }; score: number; layer: { tensor: string }; cam_layer_norm: number[][] }
const refs: Ref[] = readdirSync(REF).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(path.join(REF, f), 'utf8')) as Ref);

describe('segment:C on lraspp_mobilenet_v3.onnx = pytorch-grad-cam SemanticSegmentationTarget', () => {
  it.each(refs.map((r) => [r.image_stem, r] as const))('%s', async (_, ref) => {
    const c = ref.target.classIndex;
    const img = referenceInput(ref.image_stem);
    const mask = await readMask(path.join(REF, ref.target.mask));
    const [own] = await explain(m, [img], { targets: [`segment:${c}`], layer: ref.layer.tensor });
    const [given] = await explain(m, [img], { targets: [`segment:${c}`], layer: ref.layer.tensor, parse: { mask } });
    const expected = ref.cam_layer_norm.flat();
    for (const t of [own.targets[0], given.targets[0]]) {
      expect(pearson(t.cam.data, expected)).toBeGreaterThanOrEqual(0.99);
      expect(Math.abs(t.score - ref.score) / Math.abs(ref.score)).toBeLessThan(1e-3);
    }
  });
});
