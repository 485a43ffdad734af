/** The evaluation report of a trained classifier: accuracy, per-class precision/recall, confusion matrix. */

/** Precision and recall of one class. */
export interface ClassMetrics {
  name: string;
  /** Images of this class in the evaluated set. */
  support: number;
  /** Of the images predicted as this class, the fraction that are (NaN when none was predicted). */
  precision: number;
  /** Of the images of this class, the fraction predicted as it (NaN when there are none). */
  recall: number;
}

/** How well the classifier does on a set of images. */
export interface ClassificationReport {
  /** Which set: the validation set, or the training set when there is none. */
  on: 'validation' | 'training';
  images: number;
  accuracy: number;
  classes: ClassMetrics[];
  /** `confusion[true][predicted]` image counts. */
  confusion: number[][];
}

/** Builds the report from true and predicted class indices. */
export function classificationReport(labels: string[], truth: number[], predicted: number[], on: ClassificationReport['on']): ClassificationReport {
  const k = labels.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  truth.forEach((t, i) => confusion[t][predicted[i]]++);
  const correct = confusion.reduce((s, row, i) => s + row[i], 0);
  const classes = labels.map((name, i) => {
    const support = confusion[i].reduce((a, b) => a + b, 0);
    const predictedAs = confusion.reduce((s, row) => s + row[i], 0);
    return { name, support, precision: confusion[i][i] / predictedAs, recall: confusion[i][i] / support };
  });
  return { on, images: truth.length, accuracy: truth.length ? correct / truth.length : NaN, classes, confusion };
}

const pct = (v: number) => (Number.isNaN(v) ? '   –  ' : `${(v * 100).toFixed(1).padStart(5)}%`);

/** The report as text: accuracy, a precision/recall table and the confusion matrix. */
export function formatReport(r: ClassificationReport): string {
  const w = Math.max(5, ...r.classes.map((c) => c.name.length));
  const lines = [
    `accuracy on the ${r.on} set: ${pct(r.accuracy).trim()} (${r.images} images)`,
    '',
    `${'class'.padEnd(w)}  precision  recall  images`,
    ...r.classes.map((c) => `${c.name.padEnd(w)}  ${pct(c.precision).padStart(9)}  ${pct(c.recall)}  ${String(c.support).padStart(6)}`),
    '',
    'confusion matrix (rows: true class, columns: predicted)',
  ];
  const cw = Math.max(4, ...r.confusion.flat().map((v) => String(v).length));
  const label = (i: number) => `${String(i).padStart(2)} ${r.classes[i].name.padEnd(w)}`;
  lines.push(`${''.padEnd(w + 3)} ${r.classes.map((_, i) => String(i).padStart(cw)).join(' ')}`);
  r.confusion.forEach((row, i) => lines.push(`${label(i)} ${row.map((v) => String(v).padStart(cw)).join(' ')}`));
  return lines.join('\n');
}
