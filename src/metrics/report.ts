/** The evaluation as text: a Markdown table, a JSON summary and an SVG plot of the mean curves. */
import { escapeHtml } from '../render/html.js';
import type { EvalResult, MethodResult } from './evaluate.js';

const f = (v: number | undefined, digits = 3) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));

/** Column headers and cells of the metric table, one row per method then the baselines. */
export function metricRows(result: EvalResult): { header: string[]; rows: string[][] } {
  const pointing = result.methods.some((m) => m.pointingGame);
  const header = ['method', 'Average Drop % ↓', 'Increase in Conf. % ↑', 'Deletion AUC ↓', 'Insertion AUC ↑', 'ROAD ↑',
    ...(pointing ? ['Pointing game ↑', 'Energy in box ↑'] : [])];
  const rows = result.methods.map((m) => [
    m.baseline ? `*${m.title} (baseline)*` : m.title,
    f(m.averageDrop, 1), f(m.increaseInConfidence, 1), f(m.deletionAuc), f(m.insertionAuc), f(m.road),
    ...(pointing ? [m.pointingGame ? `${m.pointingGame.hits}/${m.pointingGame.total}` : '–', f(m.energy)] : []),
  ]);
  return { header, rows };
}

/** The metric table as Markdown. */
export function evalMarkdown(result: EvalResult): string {
  const { header, rows } = metricRows(result);
  return [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
}

/** The per-method summary for eval.json (curves and per-case scores included, rounded). */
export function evalJson(result: EvalResult, extra: Record<string, unknown> = {}): unknown {
  const r4 = (v: unknown): unknown => (typeof v === 'number' ? Math.round(v * 1e4) / 1e4 : Array.isArray(v) ? v.map(r4) : v);
  const summary = (m: MethodResult) => ({
    title: m.title,
    averageDrop: r4(m.averageDrop), increaseInConfidence: r4(m.increaseInConfidence),
    deletionAuc: r4(m.deletionAuc), insertionAuc: r4(m.insertionAuc), road: r4(m.road),
    ...(m.pointingGame ? { pointingGame: m.pointingGame, energy: r4(m.energy) } : {}),
    curves: { deletion: r4(m.deletionCurve), insertion: r4(m.insertionCurve), roadMorf: r4(m.roadMorf), roadLerf: r4(m.roadLerf) },
    cases: m.cases.map((c) => ({
      image: c.name ?? c.image, classIndex: c.classIndex, className: c.className, probability: r4(c.probability),
      maskedProbability: r4(c.maskedProbability), deletionAuc: r4(c.deletionAuc), insertionAuc: r4(c.insertionAuc), road: r4(c.road),
      peak: c.peak, ...(c.pointingHit !== undefined ? { pointingHit: c.pointingHit, energy: r4(c.energy) } : {}),
    })),
  });
  const pick = (baseline: boolean) => Object.fromEntries(result.methods.filter((m) => m.baseline === baseline).map((m) => [m.method, summary(m)]));
  return {
    ...extra, layer: result.layer, images: result.images, cases: result.methods[0]?.cases.length ?? 0,
    deletionSteps: result.steps, roadPercentages: result.roadPercentages,
    methods: pick(false), baselines: pick(true),
  };
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#393b79', '#637939', '#843c39'];

/** The mean deletion and insertion curves of every method (baselines dashed, grey) as a standalone SVG. */
export function curvesSvg(result: EvalResult): string {
  const W = 360, H = 260, L = 46, T = 30, PW = W - L - 14, PH = H - T - 40, legendW = 300;
  const methods = result.methods.filter((m) => m.deletionCurve);
  // The y axis ends at the largest probability, rounded up to a tenth (class probabilities are often small).
  const top = Math.max(0.1, Math.ceil(10 * Math.max(...methods.flatMap((m) => [...m.deletionCurve!, ...m.insertionCurve!]))) / 10);
  const colour = (m: MethodResult, i: number) => (m.baseline ? (m.method === 'random' ? '#555' : '#999') : PALETTE[i % PALETTE.length]);
  const panel = (title: string, key: 'deletionCurve' | 'insertionCurve', dx: number) => {
    const axes = [
      `<g transform="translate(${dx},0)"><text x="${L + PW / 2}" y="18" text-anchor="middle" font-weight="bold">${title}</text>`,
      `<rect x="${L}" y="${T}" width="${PW}" height="${PH}" fill="none" stroke="#333"/>`,
      ...[0, 0.25, 0.5, 0.75, 1].flatMap((t) => [
        `<text x="${L - 4}" y="${T + PH - t * PH + 4}" text-anchor="end">${+(t * top).toFixed(3)}</text>`,
        `<text x="${L + t * PW}" y="${T + PH + 14}" text-anchor="middle">${t}</text>`,
        `<line x1="${L}" x2="${L + PW}" y1="${T + PH - t * PH}" y2="${T + PH - t * PH}" stroke="#eee"/>`]),
      `<text x="${L + PW / 2}" y="${T + PH + 30}" text-anchor="middle">fraction of pixels ${key === 'deletionCurve' ? 'removed' : 'inserted'}</text>`,
      `<text transform="translate(12,${T + PH / 2}) rotate(-90)" text-anchor="middle">class probability</text>`,
    ];
    const lines = methods.map((m, i) => {
      const c = m[key]!;
      const pts = c.map((v, k) => `${(L + (k / (c.length - 1)) * PW).toFixed(1)},${(T + PH - (v / top) * PH).toFixed(1)}`).join(' ');
      return `<polyline points="${pts}" fill="none" stroke="${colour(m, i)}" stroke-width="1.6"${m.baseline ? ' stroke-dasharray="5,3"' : ''}/>`;
    });
    return [...axes, ...lines, '</g>'].join('\n');
  };
  const legend = methods.map((m, i) => {
    const y = T + 4 + i * 16;
    const auc = `del ${f(m.deletionAuc)} / ins ${f(m.insertionAuc)}`;
    return `<line x1="${2 * W + 4}" x2="${2 * W + 24}" y1="${y}" y2="${y}" stroke="${colour(m, i)}" stroke-width="2"${m.baseline ? ' stroke-dasharray="5,3"' : ''}/>` +
      `<text x="${2 * W + 28}" y="${y + 4}">${escapeHtml(m.title)}: ${auc}</text>`;
  });
  const height = Math.max(H, T + 16 * methods.length + 10);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W + legendW}" height="${height}" font-family="sans-serif" font-size="11">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${panel('Deletion (lower is better)', 'deletionCurve', 0)}\n${panel('Insertion (higher is better)', 'insertionCurve', W)}\n${legend.join('\n')}\n</svg>\n`;
}
