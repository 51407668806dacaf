/**
 * The live feed from the browser: a WebSocket to `/api/v1/feed`. Browsers cannot set headers on
 * a WebSocket, so the token goes in the first `subscribe` message (never in the URL, where logs
 * and history would keep it). The connection comes back by itself after a drop, with growing
 * pauses (1 s doubling to 30 s, with jitter); it stops for good when the server says the token
 * is not (or no longer) valid.
 */
import type { AlertFilter, AlertRecord } from './types.js';

/** What the feed is doing, for the indicator. */
export type FeedState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSES = new Set([4401, 4403, 4400]);

/** A live feed subscription that follows one filter. */
export class LiveFeed {
  private ws: WebSocket | undefined;
  private filter: AlertFilter = {};
  private retryMs = 1000;
  private timer: number | undefined;
  private closed = false;
  private everSubscribed = false;

  constructor(
    private readonly token: string,
    private readonly onAlert: (record: AlertRecord) => void,
    private readonly onState: (state: FeedState, detail: string) => void,
    private readonly onUnauthorized: (detail: string) => void,
    /** Subscribed again after a lost connection: alerts may have come meanwhile (reload). */
    private readonly onResumed: () => void = () => undefined,
  ) {}

  /** Subscribes with `filter` (connecting first if needed); the server swaps filters in place. */
  subscribe(filter: AlertFilter): void {
    this.filter = filter;
    if (this.ws?.readyState === WebSocket.OPEN) this.send();
    else if (this.ws === undefined && this.timer === undefined) this.connect();
  }

  /** Disconnects for good. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.ws?.close(1000, 'console closed');
    this.ws = undefined;
  }

  private send(): void {
    this.ws?.send(JSON.stringify({ type: 'subscribe', token: this.token, filter: this.filter }));
  }

  private connect(): void {
    this.timer = undefined;
    if (this.closed) return;
    this.onState('connecting', '');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/feed`);
    this.ws = ws;
    let first = true;
    ws.addEventListener('open', () => this.send());
    ws.addEventListener('message', (ev: MessageEvent) => {
      let msg: { type?: string; detail?: string; alert?: AlertRecord['alert']; receivedMs?: number };
      try {
        msg = JSON.parse(String(ev.data)) as typeof msg;
      } catch {
        return;
      }
      if (msg.type === 'subscribed') {
        this.retryMs = 1000;
        this.onState('live', '');
        // Only the first answer on a new connection: later ones answer a filter change.
        if (first && this.everSubscribed) this.onResumed();
        first = false;
        this.everSubscribed = true;
      } else if (msg.type === 'alert' && msg.alert !== undefined) {
        this.onAlert({ alert: msg.alert, receivedMs: msg.receivedMs ?? Date.now() });
      } else if (msg.type === 'error' || msg.type === 'dropped') {
        this.onState(this.ws === ws ? 'live' : 'reconnecting', msg.detail ?? '');
      }
    });
    ws.addEventListener('close', (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.closed) return;
      if (FINAL_CLOSES.has(ev.code)) {
        this.closed = true;
        this.onState('stopped', ev.reason || `closed (${ev.code})`);
        if (ev.code === 4401) this.onUnauthorized('the live feed refused the token');
        return;
      }
      const wait = this.retryMs * (0.75 + Math.random() * 0.5);
      this.retryMs = Math.min(30_000, this.retryMs * 2);
      this.onState('reconnecting', `retrying in ${Math.round(wait / 1000)} s`);
      this.timer = window.setTimeout(() => this.connect(), wait);
    });
  }
}
