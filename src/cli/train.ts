/** `gradcam train`: transfer learning on a folder of class folders, then a report; the model is ready for `explain`. */
import type { Command } from 'commander';
import { DEFAULT_MODEL_URL } from '../model/load.js';
import { GradcamError } from '../model/types.js';
import { initBackend, type NodeBackend } from '../node/backend.js';
import { formatReport } from '../node/train/report.js';
import { trainClassifier, type EpochStats } from '../node/train/train.js';
import { positiveInt, progress } from './common.js';

interface TrainCliOptions {
  out: string;
  base: string;
  backend: NodeBackend;
  epochs: number;
  batch: number;
  lr: number;
  valSplit: number;
  fineTune: number;
  augment: boolean;
  patience: number;
  dropout: number;
  seed: number;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function epochLine(s: EpochStats, epochs: number): string {
  const val = s.valLoss === undefined ? '' : `  val loss ${s.valLoss.toFixed(3)}  val acc ${pct(s.valAccuracy!).padStart(6)}`;
  return `epoch ${String(s.epoch).padStart(String(epochs).length)}/${epochs}  loss ${s.loss.toFixed(3)}  acc ${pct(s.accuracy).padStart(6)}${val}  ${s.seconds.toFixed(1)} s${s.best ? '  *' : ''}\n`;
}

const number = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new GradcamError(`${name} must be a number in [${min}, ${max}], got '${v}'`);
  return n;
};

export function register(program: Command): void {
  program.command('train')
    .description('train a classifier on your own classes (<dataset>/<class>/<images>) on top of a pretrained MobileNet, ready for `explain`')
    .argument('<dataset>', 'folder of class folders of images (optionally with val/<class>/ for validation)')
    .requiredOption('-o, --out <dir>', 'output model folder (model.json, weights.bin, metadata.json, report.json)')
    .option('--base <dir|url>', 'pretrained base model folder or URL (cached), MobileNet v1 α=0.25 or 0.75', DEFAULT_MODEL_URL)
    .option('--backend <name>', 'wasm or cpu', 'wasm')
    .option('-e, --epochs <n>', 'maximum epochs', positiveInt('--epochs'), 20)
    .option('-b, --batch <n>', 'images per batch', positiveInt('--batch'), 16)
    .option('--lr <rate>', 'Adam learning rate of the head (fine-tuned blocks: 100× smaller)', number('--lr', 1e-7, 1), 0.01)
    .option('--val-split <f>', 'fraction of each class held out for validation when there is no val/ folder', number('--val-split', 0, 0.9), 0.2)
    .option('--fine-tune <n>', 'also train the last n blocks of the base', (v: string) => (v === '0' ? 0 : positiveInt('--fine-tune')(v)), 0)
    .option('--no-augment', 'no random crop/flip/brightness (the base features are then computed once: much faster epochs)')
    .option('--patience <n>', 'stop after n epochs without a better validation loss (0: never)', (v: string) => (v === '0' ? 0 : positiveInt('--patience')(v)), 4)
    .option('--dropout <p>', 'dropout before the dense layer', number('--dropout', 0, 0.9), 0.2)
    .option('--seed <n>', 'seed of the split, shuffling, augmentation and dropout', positiveInt('--seed'), 1)
    .action(async (dataset: string, opts: TrainCliOptions) => {
      if (opts.backend !== 'wasm' && opts.backend !== 'cpu') throw new GradcamError(`unknown backend '${opts.backend}'; backends: wasm, cpu`);
      await initBackend(opts.backend);
      let bar: ReturnType<typeof progress> | undefined;
      let shown = 0;
      const stopBar = () => { bar?.stop(); bar = undefined; };
      const r = await trainClassifier(dataset, {
        out: opts.out, base: opts.base, epochs: opts.epochs, batchSize: opts.batch, learningRate: opts.lr, valSplit: opts.valSplit,
        fineTune: opts.fineTune, augment: opts.augment, patience: opts.patience, dropout: opts.dropout, seed: opts.seed,
        onWarning: (m) => { stopBar(); process.stderr.write(`warning: ${m}\n`); },
        onProgress: (p) => {
          if (p.phase === 'validate') return;
          if (!bar || p.done < shown) {
            stopBar();
            const label = p.phase === 'features' ? 'base features' : `epoch ${p.epoch}/${opts.epochs}`;
            bar = progress(p.total, label, p.phase === 'train' ? ' loss {loss} acc {acc}' : '');
            shown = 0;
          }
          bar.tick(p.done - shown, { loss: p.loss?.toFixed(3) ?? '–', acc: p.accuracy === undefined ? '–' : pct(p.accuracy) });
          shown = p.done;
          if (p.done >= p.total) stopBar();
        },
        onEpoch: (s) => { stopBar(); process.stderr.write(epochLine(s, opts.epochs)); },
      });
      stopBar();
      const stop = r.stoppedEarly ? `stopped early after epoch ${r.history.length}; ` : '';
      process.stderr.write(`${stop}kept the weights of epoch ${r.bestEpoch} (${r.seconds.toFixed(1)} s, ${r.images.train} training / ${r.images.val} validation images, backend ${r.backend})\n`);
      if (r.skipped.length) process.stderr.write(`warning: skipped ${r.skipped.length} unreadable image(s) (listed in ${opts.out}/report.json)\n`);
      process.stdout.write(`${formatReport(r.report)}\n\nsaved ${opts.out}/ (model.json, weights.bin, metadata.json, report.json)\n`);
      process.stdout.write(`explain it: gradcam explain --model ${opts.out} <images>   (layer auto = ${r.model.defaultLayer})\n`);
      r.model.dispose();
    });
}
