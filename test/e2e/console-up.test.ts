/**
 * What the README promises a new user: `vigil up` (what `npm start` runs) starts a collector and
 * an agent, prints the console's URL and an admin token, and an alert about this machine shows in
 * the console (Debian's Chromium) within a minute of starting.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/console-fixture.js';

/** The CLI beside this compiled test (dist/cli/vigil.js after a build). */
const vigilBin = fileURLToPath(new URL('../../cli/vigil.js', import.meta.url));

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('vigil up and the console, as the README says', function () {
  this.timeout(150_000);
  let work: string;
  let up: ChildProcess | undefined;
  let browser: Browser | undefined;
  let stdout = '';

  before(function () {
    work = mkdtempSync(join(tmpdir(), 'vigil-up-console-'));
  });

  after(async function () {
    await browser?.close();
    if (up !== undefined && up.exitCode === null && up.signalCode === null) {
      const exited = new Promise((resolve) => up?.once('exit', resolve));
      up.kill('SIGINT');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('prints the console URL and an admin token, and an alert shows in the console within a minute', async function () {
    const started = Date.now();
    const [http, grpc, agent] = [await freePort(), await freePort(), await freePort()];
    up = spawn(
      process.execPath,
      [
        vigilBin,
        'up',
        '--data-dir',
        join(work, 'vigil'),
        '--http-port',
        String(http),
        '--grpc-port',
        String(grpc),
        '--agent-port',
        String(agent),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const child = up;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.on('data', () => undefined);
    const printed = await new Promise<{ url: string; token: string }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`vigil up printed no URL in 60 s:\n${stdout}`)),
        60_000,
      );
      const check = (): void => {
        const url = /console:\s+(http:\/\/\S+\/console\/)/.exec(stdout)?.[1];
        const token = /admin token:\s+(vgl_\S+)/.exec(stdout)?.[1];
        if (url !== undefined && token !== undefined && stdout.includes('Vigil is up.')) {
          clearTimeout(timer);
          resolve({ url, token });
        }
      };
      child.stdout?.on('data', check);
      child.once('exit', (code) => reject(new Error(`vigil up exited (${code}):\n${stdout}`)));
    });
    assert.equal(printed.url, `http://127.0.0.1:${http}/console/`);

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(printed.url);
    await page.locator('#token').fill(printed.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#alert-list[data-state="ready"]').waitFor();
    await page.locator('#live-state[data-state="live"]').waitFor();

    // The README's way to see an alert: run a program from /tmp (long enough for procfs polling).
    const dir = mkdtempSync('/tmp/vigil-up-x-');
    copyFileSync('/bin/sleep', join(dir, 'x'));
    spawnSync('chmod', ['+x', join(dir, 'x')]);
    const run = spawnSync(join(dir, 'x'), ['3']);
    assert.equal(run.status, 0);
    rmSync(dir, { recursive: true, force: true });
    const row = page.locator('#alert-list tbody tr.row', { hasText: 'temporary directory' }).first();
    await row.waitFor({ timeout: Math.max(1000, 60_000 - (Date.now() - started)) });
    assert.ok(Date.now() - started < 60_000, `the alert took ${Date.now() - started} ms from start`);
    const shots = join(process.cwd(), 'test-output', 'console');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, 'up-first-alert.png') });
  });
});
