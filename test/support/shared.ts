/**
 * Locates `../shared` (reference material and test data that sits beside the project's checkout
 * on developer machines and in CI). A fresh clone elsewhere does not have it: tests that need it
 * call {@link requireShared}, which skips them with a clear message when it is absent.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root (the folder holding package.json), from dist/test/support or test/support. */
export const projectRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the project root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

/** `../shared` beside the project, or undefined when it is not there. */
export const sharedDir: string | undefined = (() => {
  const dir = process.env['VIGIL_SHARED_DIR'] ?? resolve(projectRoot, '..', 'shared');
  return existsSync(join(dir, 'README.md')) ? dir : undefined;
})();

/**
 * Returns the path of `rel` inside shared/, or skips the calling test (with the reason printed)
 * when shared/ is absent. Use inside `before()` or `it()` with a `function` (not an arrow).
 */
export function requireShared(ctx: Mocha.Context, rel = ''): string {
  if (sharedDir === undefined) {
    const why = 'skipped: ../shared (test data) is not beside this checkout; set VIGIL_SHARED_DIR to run';
    console.log(`      ${why}`);
    ctx.skip();
  }
  return join(sharedDir, rel);
}

/** The two upstream Falco rule files in shared/, in load order. */
export function upstreamRuleFiles(shared: string): string[] {
  return ['falco_rules.yaml', 'falco-incubating_rules.yaml'].map((f) => join(shared, 'falco-rules', f));
}

/** Every line of every capture's Falco-field JSON lines in shared/, in file-name order. */
export function captureLines(shared: string): string[] {
  const dir = join(shared, 'captures', 'scap');
  const lines: string[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.falco.jsonl'))
    .sort()) {
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) if (l !== '') lines.push(l);
  }
  return lines;
}
