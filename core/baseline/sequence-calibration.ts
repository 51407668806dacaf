/**
 * Calibration of one anomaly measure against held-out normal traces (sequence-model.ts): turns a
 * raw value into its surprise -ln p, where p is the share of normal traces scoring at least as
 * high. Measures in different units (bits per call, a set distance) become comparable and can be
 * added up (Fisher's method).
 */

/** Most calibration values kept; a larger sample is reduced to this many evenly spaced quantiles. */
export const MAX_CALIBRATION = 4096;

/** The empirical upper tail of one measure on held-out normal traces. */
export class TailCalibration {
  /** The sample, ascending. */
  readonly sorted: Float32Array;
  private readonly n: number;
  private readonly max: number;
  private readonly scale: number;

  /** `values` need not be sorted; more than {@link MAX_CALIBRATION} are thinned to quantiles. */
  constructor(values: ArrayLike<number>) {
    const all = Float64Array.from(values).sort();
    let kept: Float64Array = all;
    if (all.length > MAX_CALIBRATION) {
      kept = new Float64Array(MAX_CALIBRATION);
      for (let i = 0; i < MAX_CALIBRATION; i++)
        kept[i] = all[Math.round((i * (all.length - 1)) / (MAX_CALIBRATION - 1))]!;
    }
    this.sorted = Float32Array.from(kept);
    this.n = this.sorted.length;
    this.max = this.n > 0 ? this.sorted[this.n - 1]! : 0;
    // Beyond the largest normal value the surprise keeps growing, one nat per standard deviation
    // of the sample, so that stronger anomalies still rank higher (no ties at the top).
    let mean = 0;
    for (const v of this.sorted) mean += v;
    mean /= Math.max(1, this.n);
    let sq = 0;
    for (const v of this.sorted) sq += (v - mean) * (v - mean);
    this.scale = Math.max(Math.sqrt(sq / Math.max(1, this.n)), 1e-6);
  }

  /** Number of calibration values. */
  get size(): number {
    return this.n;
  }

  /**
   * -ln p(x): 0 below every normal value, ln(n + 1) at the largest, growing linearly past it;
   * between sample values p is interpolated so the result is continuous and never decreases.
   * With an empty sample the raw value is returned (no calibration was possible).
   */
  surprise(x: number): number {
    const s = this.sorted;
    const n = this.n;
    if (n === 0) return x;
    if (x < s[0]!) return 0;
    if (x >= this.max) return Math.log(n + 1) + (x - this.max) / this.scale;
    // Largest i with s[i] <= x (exists since s[0] <= x < max).
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]! <= x) lo = mid;
      else hi = mid - 1;
    }
    const a = s[lo]!;
    const b = s[lo + 1]!;
    const rank = lo + (b > a ? (x - a) / (b - a) : 0);
    return Math.log((n + 1) / (n - rank));
  }
}
