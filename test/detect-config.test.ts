/** Detector configuration without models: layout recognition, settings precedence, metadata files, NMS. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDetector } from '../src/detect/config.js';
import { recogniseLayout } from '../src/detect/layouts.js';
import { nms, type Box } from '../src/detect/nms.js';
import { readDetectorSettings } from '../src/node/detector-settings.js';

const nanodetOutputs = [[169, 80], [169, 44], [676, 80], [2704, 80], [676, 44], [2704, 44]].map(([n, c], i) => ({ name: `Identity_${i}`, shape: [null, n, c] }));
const pre = { range: [0, 1] as [number, number], resize: 'squash' as const };

describe('detector configuration', () => {
  it('recognises the layouts from output shapes, pairing per-stride scores and distributions', () => {
    expect(recogniseLayout([{ name: 'wh', shape: [null, 128, 128, 4] }, { name: 'keypoints', shape: [null, 128, 128, 80] }, { name: 'detections', shape: [null, 100, 6] }], [512, 512]))
      .toEqual({ layout: 'centernet', heatmap: 1, extents: 0, stride: 4 });
    const af = recogniseLayout(nanodetOutputs, [416, 416]);
    expect(af).toEqual({ layout: 'anchor-free', bins: 11, levels: [
      { scores: 3, boxes: 5, stride: 8, side: 52 }, { scores: 2, boxes: 4, stride: 16, side: 26 }, { scores: 0, boxes: 1, stride: 32, side: 13 }] });
    expect(recogniseLayout([{ name: 'output0', shape: [null, 84, 8400] }], [640, 640])).toEqual({ layout: 'yolov8', output: 0 });
    expect(recogniseLayout([{ name: 'output', shape: [null, 25200, 85] }], [640, 640])).toEqual({ layout: 'yolov5', output: 0 });
    expect(recogniseLayout([{ name: 'logits', shape: [null, 1000] }], [224, 224])).toBeUndefined();
    expect(recogniseLayout([{ name: 'seg', shape: [null, 32, 32, 21] }], [256, 256])).toBeUndefined();
  });

  it('options override metadata, which overrides the layout defaults; labels must match the classes', () => {
    const model = { name: 'nanodet', outputs: nanodetOutputs };
    const c = resolveDetector(model, [416, 416], pre, { minScore: 0.5, iou: 0.6 }, { minScore: 0.4 });
    expect([c.layout, c.minScore, c.iou, c.maxDetections, c.preprocessing.range, c.labels[16]]).toEqual(['anchor-free', 0.4, 0.6, 20, [0, 1], 'dog']);
    expect(() => resolveDetector(model, [416, 416], pre, { labels: ['a', 'b'] })).toThrow(/80 classes but 2 labels/);
    expect(() => resolveDetector({ name: 'm', outputs: [{ name: 'y', shape: [null, 1000] }] }, [224, 224], pre)).toThrow(/not a detector/);
  });

  it('reads the detector section of metadata.json, or of <model>.json beside a single-file model', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-det-'));
    writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify({ detector: { layout: 'centernet', minScore: 0.3 } }));
    expect(await readDetectorSettings(dir)).toEqual({ layout: 'centernet', minScore: 0.3 });
    const other = mkdtempSync(path.join(os.tmpdir(), 'gradcam-det-'));
    writeFileSync(path.join(other, 'yolov8n.onnx'), 'x');
    writeFileSync(path.join(other, 'yolov8n.json'), JSON.stringify({ detector: { layout: 'yolov8', labels: ['a'] } }));
    expect(await readDetectorSettings(path.join(other, 'yolov8n.onnx'))).toEqual({ layout: 'yolov8', labels: ['a'] });
    writeFileSync(path.join(other, 'yolov8n.json'), '{');
    await expect(readDetectorSettings(path.join(other, 'yolov8n.onnx'))).rejects.toThrow(/yolov8n\.json: not valid JSON/);
  });

  it('NMS: by score, suppressing overlaps above the IoU (across classes or within), at most N', () => {
    const b = (x: number): Box => [x, 0, x + 10, 10];
    const items = [{ box: b(0), score: 0.9, classIndex: 0 }, { box: b(1), score: 0.8, classIndex: 1 }, { box: b(30), score: 0.7, classIndex: 0 }, { box: b(60), score: 0.1, classIndex: 0 }];
    expect(nms(items, { iou: 0.5, minScore: 0.2, maxDetections: 10, classAgnostic: true })).toEqual([0, 2]);
    expect(nms(items, { iou: 0.5, minScore: 0.2, maxDetections: 10, classAgnostic: false })).toEqual([0, 1, 2]);
    expect(nms(items, { iou: 0.5, minScore: 0.2, maxDetections: 1, classAgnostic: false })).toEqual([0]);
  });
});
