/**
 * The timeline: alerts per time bucket, stacked by priority, drawn as SVG by hand (a few dozen
 * rectangles need no chart library). Each bar says its numbers on hover and focus; clicking one
 * narrows the list to its time.
 */
import { h, replace, svg } from './dom.js';
import { dateTime } from './format.js';
import { PRIORITIES, type AlertCounts, type Priority } from './types.js';

const HEIGHT = 110;
const PAD_LEFT = 44;
const PAD_BOTTOM = 18;
const PAD_TOP = 6;

/** A timeline chart; `render` draws counts, `add` counts one more live alert. */
export class Timeline {
  readonly el: HTMLElement;
  private readonly plot: HTMLElement;
  private readonly legend: HTMLElement;
  private counts: AlertCounts | undefined;
  private pending = false;

  constructor(private readonly onPick: (fromMs: number, toMs: number) => void) {
    this.plot = h('div', { class: 'timeline-plot' });
    this.legend = h(
      'div',
      { class: 'legend', 'aria-hidden': 'true' },
      PRIORITIES.map((p) =>
        h('span', { class: 'legend-item' }, h('i', { class: `swatch fill-${p.toLowerCase()}` }), p),
      ),
    );
    this.el = h(
      'section',
      { class: 'timeline', 'aria-label': 'Alerts over time, by priority' },
      this.plot,
      this.legend,
    );
    new ResizeObserver(() => this.draw()).observe(this.plot);
  }

  /** Draws these counts. */
  render(counts: AlertCounts): void {
    this.counts = {
      ...counts,
      buckets: counts.buckets.map((b) => ({ startMs: b.startMs, counts: { ...b.counts } })),
    };
    this.draw();
  }

  /** Adds one live alert to its bucket (redrawn at most once a second). */
  add(timeMs: number, priority: Priority): void {
    const c = this.counts;
    if (c === undefined || timeMs < c.fromMs) return;
    // The collector's buckets start at whole multiples of the bucket width (since the epoch).
    const start = Math.floor(timeMs / c.bucketMs) * c.bucketMs;
    let buckets = c.buckets as { startMs: number; counts: Partial<Record<Priority, number>> }[];
    let bucket = buckets.find((b) => b.startMs === start);
    if (bucket === undefined) {
      bucket = { startMs: start, counts: {} };
      buckets.push(bucket);
      buckets.sort((a, b) => a.startMs - b.startMs);
      if (start + c.bucketMs > c.toMs) {
        // Time moved on: slide the window (same span), so a page left open keeps a bounded chart.
        const toMs = start + c.bucketMs;
        const fromMs = toMs - (c.toMs - c.fromMs);
        buckets = buckets.filter((b) => b.startMs + c.bucketMs > fromMs);
        this.counts = { ...c, fromMs, toMs, buckets };
      }
    }
    bucket.counts[priority] = (bucket.counts[priority] ?? 0) + 1;
    if (!this.pending) {
      this.pending = true;
      window.setTimeout(() => {
        this.pending = false;
        this.draw();
      }, 1000);
    }
  }

  /** The total in the counts drawn. */
  total(): number {
    let n = 0;
    for (const b of this.counts?.buckets ?? []) for (const v of Object.values(b.counts)) n += v ?? 0;
    return n;
  }

  private draw(): void {
    const c = this.counts;
    const width = Math.max(300, this.plot.clientWidth);
    if (c === undefined) {
      replace(this.plot, h('p', { class: 'muted' }, 'Loading the timeline…'));
      return;
    }
    const origin = Math.floor(c.fromMs / c.bucketMs) * c.bucketMs;
    const slots = Math.max(1, Math.ceil((c.toMs - origin) / c.bucketMs));
    const plotW = width - PAD_LEFT - 4;
    const plotH = HEIGHT - PAD_BOTTOM - PAD_TOP;
    const slotW = plotW / slots;
    let max = 0;
    for (const b of c.buckets) {
      let sum = 0;
      for (const v of Object.values(b.counts)) sum += v ?? 0;
      max = Math.max(max, sum);
    }
    const scale = max === 0 ? 0 : plotH / max;
    const chart = svg('svg', {
      viewBox: `0 0 ${width} ${HEIGHT}`,
      width,
      height: HEIGHT,
      role: 'img',
      'aria-label': `Alerts per ${Math.round(c.bucketMs / 60000)} minutes from ${dateTime(c.fromMs)} to ${dateTime(c.toMs)}; at most ${max} in one`,
    });
    chart.append(
      svg('line', { x1: PAD_LEFT, x2: width - 4, y1: PAD_TOP + plotH, y2: PAD_TOP + plotH, class: 'axis' }),
      svg('text', { x: PAD_LEFT - 6, y: PAD_TOP + 9, class: 'tick', 'text-anchor': 'end' }, String(max)),
      svg('text', { x: PAD_LEFT - 6, y: PAD_TOP + plotH, class: 'tick', 'text-anchor': 'end' }, '0'),
    );
    for (const b of c.buckets) {
      const slot = Math.round((b.startMs - origin) / c.bucketMs);
      if (slot < 0 || slot >= slots) continue;
      const x = PAD_LEFT + slot * slotW;
      let y = PAD_TOP + plotH;
      const g = svg('g', { class: 'bar', tabindex: -1 });
      const lines: string[] = [];
      // Least severe at the bottom, so the severe ones sit on top where the eye lands.
      for (const p of [...PRIORITIES].reverse()) {
        const n = b.counts[p] ?? 0;
        if (n === 0) continue;
        const hgt = Math.max(1, n * scale);
        y -= hgt;
        g.append(
          svg('rect', {
            x: x + 0.5,
            y,
            width: Math.max(1, slotW - 1),
            height: hgt,
            class: `fill-${p.toLowerCase()}`,
          }),
        );
        lines.unshift(`${p}: ${n}`);
      }
      g.append(svg('title', {}, `${dateTime(b.startMs)}\n${lines.join('\n')}`));
      g.addEventListener('click', () => this.onPick(b.startMs, b.startMs + c.bucketMs));
      chart.append(g);
    }
    const ticks = Math.min(6, slots);
    for (let i = 0; i <= ticks; i++) {
      // Ticks on bucket boundaries, so labels read as round times.
      const slot = Math.round((slots * i) / ticks);
      const label = dateTime(origin + slot * c.bucketMs);
      const short = c.toMs - c.fromMs <= 86_400_000 ? label.slice(11, 16) : label.slice(5, 16);
      const x = PAD_LEFT + slot * slotW;
      chart.append(
        svg(
          'text',
          {
            x,
            y: HEIGHT - 4,
            class: 'tick',
            'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle',
          },
          short,
        ),
      );
    }
    replace(this.plot, chart);
  }
}
