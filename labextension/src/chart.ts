// A small SVG line chart of one metric's history, coloured by theme variables.
import { IMetricPoint } from './api';
import { h } from './dom';

const NS = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    node.setAttribute(key, String(value));
  }
  return node;
}

/** A titled line chart (value over step); a single point is drawn as a dot. */
export function metricChart(key: string, points: IMetricPoint[]): HTMLElement {
  const width = 320;
  const height = 160;
  const pad = 32;
  const figure = h('figure', { className: 'jp-mlops-chart', attrs: { 'data-metric': key } });
  figure.appendChild(h('figcaption', {}, key));
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' });
  root.setAttribute('aria-label', `${key} by step`);
  const steps = points.map(p => p.step);
  const values = points.map(p => p.value).filter(v => Number.isFinite(v));
  if (values.length === 0) {
    figure.appendChild(h('div', {}, 'no finite values'));
    return figure;
  }
  const [x0, x1] = [Math.min(...steps), Math.max(...steps)];
  const [y0, y1] = [Math.min(...values), Math.max(...values)];
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const sy = (y: number) => height - pad - ((y - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
  root.appendChild(
    svg('line', { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: 'jp-mlops-axis' })
  );
  root.appendChild(svg('line', { x1: pad, y1: pad, x2: pad, y2: height - pad, class: 'jp-mlops-axis' }));
  const finite = points.filter(p => Number.isFinite(p.value));
  if (finite.length === 1) {
    root.appendChild(svg('circle', { cx: sx(finite[0].step), cy: sy(finite[0].value), r: 4, class: 'jp-mlops-dot' }));
  } else {
    const d = finite.map((p, i) => `${i ? 'L' : 'M'}${sx(p.step).toFixed(1)},${sy(p.value).toFixed(1)}`).join(' ');
    root.appendChild(svg('path', { d, class: 'jp-mlops-line' }));
  }
  const label = (x: number, y: number, text: string, anchor: string) => {
    const node = svg('text', { x, y, 'text-anchor': anchor, class: 'jp-mlops-tick' });
    node.textContent = text;
    root.appendChild(node);
  };
  label(pad - 4, pad + 4, y1.toPrecision(3), 'end');
  label(pad - 4, height - pad, y0.toPrecision(3), 'end');
  label(pad, height - pad + 14, String(x0), 'middle');
  label(width - pad, height - pad + 14, String(x1), 'middle');
  figure.appendChild(root);
  return figure;
}
