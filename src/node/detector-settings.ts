/** Node: a detector's settings from the files beside the model. */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { GradcamError } from '../model/types.js';
import type { DetectorSettings } from '../detect/config.js';

/**
 * The `detector` section of `metadata.json` in a model folder (or beside a model.json), or of
 * `<model>.json` beside a single-file model (e.g. `yolov8n.json` beside `yolov8n.onnx`); `{}` when
 * there is none. A top-level `labels` there is not used (it describes output 0 for classifiers): put
 * detector labels in `detector.labels`.
 */
export async function readDetectorSettings(source: string): Promise<DetectorSettings> {
  if (/^https?:\/\//i.test(source)) return {};
  const info = await stat(source).catch(() => undefined);
  if (!info) return {};
  const candidates = info.isDirectory()
    ? [path.join(source, 'metadata.json')]
    : [path.join(path.dirname(source), 'metadata.json'), source.replace(/\.[^./\\]+$/, '') + '.json'].filter((f) => f !== source);
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    let meta: { detector?: DetectorSettings };
    try {
      meta = JSON.parse(await readFile(file, 'utf8')) as { detector?: DetectorSettings };
    } catch (e) {
      throw new GradcamError(`not valid JSON (${(e as Error).message})`, file);
    }
    if (meta.detector) return meta.detector;
  }
  return {};
}
