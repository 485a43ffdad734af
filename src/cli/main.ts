/**
 * The `gradcam` command line: a thin shell over the library. Each command lives in its own file
 * and registers itself here.
 */
import { Command, CommanderError } from 'commander';
import { reportError } from './common.js';
import { register as audit } from './audit.js';
import { register as compare } from './compare.js';
import { register as evalCommand } from './eval.js';
import { register as explain } from './explain.js';
import { register as inspect } from './inspect.js';
import { register as train } from './train.js';
import { methods } from '../methods/index.js';

const program = new Command('gradcam')
  .description('Grad-CAM and its family of visual explanations for TensorFlow.js models')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

explain(program);
evalCommand(program);
audit(program);
compare(program);
inspect(program);
train(program);
program.command('methods').description('list the CAM methods').action(() => {
  for (const m of Object.values(methods)) {
    process.stdout.write(`${m.name.padEnd(16)} ${m.title.padEnd(18)} ${{ gradients: 'gradients', activations: 'activations only', scores: 'forward passes' }[m.needs]}, ${m.classSpecific ? 'class-specific' : 'class-agnostic'}\n`);
  }
  process.stdout.write(`${'--guided'.padEnd(16)} ${'Guided Grad-CAM'.padEnd(18)} input gradients × the map: an image, <stem>.<class>.guided.png\n`);
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode;
  } else {
    reportError(e);
    process.exitCode = 2;
  }
}
