/** How the console writes times, sizes and names. */

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `2024-05-01 12:00:00` in the browser's zone. */
export function dateTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** For the list, in the browser's zone: `12:00:05` today, `05-01 12:00` on other days. */
export function listTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const today = new Date(now);
  if (d.toDateString() === today.toDateString())
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The alert's event time in ms (its ISO time has nanoseconds; the browser keeps ms). */
export function alertMs(time: string, fallback: number): number {
  const ms = Date.parse(time);
  return Number.isFinite(ms) ? ms : fallback;
}

/** `3 min ago`, `2 h ago`, `in 5 s`. */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.round((now - ms) / 1000);
  const abs = Math.abs(s);
  const text =
    abs < 60
      ? `${abs} s`
      : abs < 3600
        ? `${Math.round(abs / 60)} min`
        : abs < 86400
          ? `${Math.round(abs / 3600)} h`
          : `${Math.round(abs / 86400)} d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

/** `1.5 GiB` */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** `1 day 3 h`, `12 min` */
export function duration(ms: number): string {
  const min = Math.round(ms / 60000);
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** The CSS class for a priority's colour. */
export function priorityClass(p: string): string {
  return `prio prio-${String(p).toLowerCase()}`;
}

/** A short form of a long hash or id. */
export function short(text: string, n = 8): string {
  return text.length > n ? `${text.slice(0, n)}…` : text;
}
