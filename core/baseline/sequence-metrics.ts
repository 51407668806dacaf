/**
 * Detection metrics for anomaly scores (higher = more anomalous), used by the sequence-model
 * benchmark and tests: ROC AUC with ties counted as half, and the detection rate at a false-alarm
 * budget.
 */

/**
 * Area under the ROC curve: the probability that a random anomalous trace scores above a random
 * normal one, ties counting one half (the Mann-Whitney U statistic over n·p). O((n + p) log(n + p)).
 * Throws when either side is empty or a score is NaN.
 *
 * @example
 * rocAuc([0.1, 0.4], [0.4, 0.9]); // (1 + 0.5 + 1 + 1) / 4 = 0.875
 */
export function rocAuc(normal: ArrayLike<number>, anomalous: ArrayLike<number>): number {
  const n = normal.length;
  const p = anomalous.length;
  if (n === 0 || p === 0) throw new RangeError('ROC AUC needs at least one normal and one anomalous score');
  const all: { v: number; pos: boolean }[] = [];
  for (let i = 0; i < n; i++) all.push({ v: checked(normal[i]!), pos: false });
  for (let i = 0; i < p; i++) all.push({ v: checked(anomalous[i]!), pos: true });
  all.sort((a, b) => a.v - b.v);
  // Sum of the (1-based, tie-averaged) ranks of the anomalous scores.
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    let positives = 0;
    while (j < all.length && all[j]!.v === all[i]!.v) {
      if (all[j]!.pos) positives++;
      j++;
    }
    rankSum += positives * ((i + 1 + j) / 2);
    i = j;
  }
  return (rankSum - (p * (p + 1)) / 2) / (n * p);
}

/**
 * Share of anomalous scores detected at a false-alarm budget: the threshold is the lowest that
 * raises alarms on at most `falseAlarmRate` of the normal scores (a score alarms when it is
 * strictly above the threshold), and the result is the share of anomalous scores above it.
 *
 * @example
 * detectionRate([1, 2, 3, 4], [2.5, 3.5, 5], 0.25); // threshold 3 -> 2 of 3 detected
 */
export function detectionRate(
  normal: ArrayLike<number>,
  anomalous: ArrayLike<number>,
  falseAlarmRate: number,
): number {
  if (!(falseAlarmRate >= 0 && falseAlarmRate <= 1))
    throw new RangeError('false-alarm rate must be in [0, 1]');
  if (normal.length === 0 || anomalous.length === 0)
    throw new RangeError('detection rate needs at least one normal and one anomalous score');
  const desc = Float64Array.from(normal, checked).sort().reverse();
  const allowed = Math.floor(falseAlarmRate * desc.length + 1e-9);
  const threshold = allowed >= desc.length ? -Infinity : desc[allowed]!;
  let hit = 0;
  for (let i = 0; i < anomalous.length; i++) if (checked(anomalous[i]!) > threshold) hit++;
  return hit / anomalous.length;
}

function checked(v: number): number {
  if (Number.isNaN(v)) throw new RangeError('score is NaN');
  return v;
}
