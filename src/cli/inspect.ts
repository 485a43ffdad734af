/** `gradcam layers` and `gradcam classify`: look inside a model before explaining. */
import type { Command } from 'commander';
import { classify } from '../core/explain.js';
import { isSpatial, shapeText } from '../model/layers.js';
import { readImage } from '../node/image.js';
import { expandInputs, openModel, positiveInt, progress, reportError, withModelOptions, type ModelOptions } from './common.js';

export function register(program: Command): void {
  withModelOptions(program.command('layers')
    .description('list the layers with a 4-D output (explainable), marking the one `--layer auto` picks'))
    .option('--all', 'include layers without spatial extent (1×1)')
    .action(async (opts: ModelOptions & { all?: boolean }) => {
      const model = await openModel(opts);
      const rows = model.layers.filter((l) => opts.all || isSpatial(l));
      const w = Math.max(...rows.map((l) => l.name.length));
      const t = Math.max(...rows.map((l) => l.type.length));
      process.stdout.write(`${model.name} (${model.format}) ${model.source}: ${model.labels.length} classes, input ${model.preprocessing.size.join('×')}\n`);
      const dims = (s: (number | null)[]) => `[${s.slice(1).map((d) => d ?? '?').join(',')}]`;
      process.stdout.write(`outputs: ${model.outputs.map((o, i) => `${i} "${o.name}" ${dims(o.shape)}${i === 0 && model.activation !== 'none' ? ` (${model.activation} stripped)` : ''}`).join(', ')}\n`);
      for (const l of rows) {
        const mark = l.name === model.defaultLayer ? '  ← auto (Grad-CAM default)' : '';
        process.stdout.write(`${l.name.padEnd(w)}  ${l.type.padEnd(t)}  ${shapeText(l)}${mark}\n`);
      }
      model.dispose();
    });

  withModelOptions(program.command('classify')
    .description('top-k predictions with probabilities for images (files or folders)')
    .argument('<images...>', 'image files or folders')
    .option('-k, --top <k>', 'how many classes', positiveInt('--top'), 5)
    .option('--json', 'print JSON instead of text'))
    .action(async (images: string[], opts: ModelOptions & { top: number; json?: boolean }) => {
      const model = await openModel(opts);
      const files = await expandInputs(images);
      const bar = progress(files.length, 'classifying');
      const all: Record<string, unknown> = {};
      for (const file of files) {
        try {
          const [preds] = await classify(model, [await readImage(file)], opts.top);
          if (opts.json) all[file] = preds;
          else process.stdout.write(`${file}\n${preds.map((p) => `  ${(p.probability * 100).toFixed(1).padStart(5)}%  ${String(p.classIndex).padStart(4)}  ${p.className}`).join('\n')}\n`);
        } catch (e) {
          reportError(e, file);
        }
        bar.tick();
      }
      bar.stop();
      if (opts.json) process.stdout.write(JSON.stringify(all, null, 1) + '\n');
      model.dispose();
    });
}
