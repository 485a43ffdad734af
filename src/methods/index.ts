/**
 * The registry of CAM methods, one file each. A method only says how channels are weighted (or how
 * weights and activations combine); the core in `core/explain.ts` does everything else. The core
 * never imports this file: names are resolved here (`getMethod`) and in `src/explain.ts`.
 */
import type { CamMethod } from '../core/method.js';
import { GradcamError } from '../model/types.js';
import { ablationcam } from './ablationcam.js';
import { eigencam } from './eigencam.js';
import { eigengradcam } from './eigengradcam.js';
import { gradcam } from './gradcam.js';
import { gradcamPlusPlus } from './gradcampp.js';
import { hirescam } from './hirescam.js';
import { layercam } from './layercam.js';
import { scorecam } from './scorecam.js';
import { xgradcam } from './xgradcam.js';

/** Every method, by CLI/API name. */
export const methods = {
  gradcam,
  'gradcam++': gradcamPlusPlus,
  xgradcam,
  hirescam,
  layercam,
  eigencam,
  eigengradcam,
  scorecam,
  ablationcam,
} satisfies Record<string, CamMethod>;

/** A method's name. */
export type MethodName = keyof typeof methods;

/** Looks a method up by name; throws a {@link GradcamError} listing the valid names. */
export function getMethod(name: string): CamMethod {
  const m = (methods as Record<string, CamMethod>)[name];
  if (!m) throw new GradcamError(`unknown method '${name}'; methods: ${Object.keys(methods).join(', ')}`);
  return m;
}

export { ablationcam, eigencam, eigengradcam, gradcam, gradcamPlusPlus, hirescam, layercam, scorecam, xgradcam };
