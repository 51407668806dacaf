/**
 * The images' Dockerfiles, checked statically (no image is built here): multi-stage, the base
 * pinned by digest, the collector non-root with the uid its Deployment runs as, the agent's
 * build stage refusing an image without the eBPF sensor, and every path they copy present and
 * not hidden by .dockerignore.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../support/shared.js';
import { at, kindOf, plainManifests } from './manifests.js';

const dockerDir = join(projectRoot, 'deploy', 'docker');
const read = (name: string): string => readFileSync(join(dockerDir, name), 'utf8');

/** The instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const sp = l.indexOf(' ');
      return { op: l.slice(0, sp).toUpperCase(), args: l.slice(sp + 1).trim() };
    });
}

describe('Dockerfiles (static checks)', () => {
  for (const file of ['agent.Dockerfile', 'collector.Dockerfile']) {
    describe(file, () => {
      const ins = instructions(read(file));

      it('is multi-stage, from node:20-bookworm-slim pinned by digest', () => {
        const arg = ins.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='));
        assert.match(
          arg?.args ?? '',
          /^NODE_IMAGE=docker\.io\/library\/node:20-bookworm-slim@sha256:[0-9a-f]{64}$/,
        );
        const froms = ins.filter((i) => i.op === 'FROM');
        assert.ok(froms.length >= 2, 'one build stage and one runtime stage');
        for (const f of froms) assert.match(f.args, /^\$\{NODE_IMAGE\}( AS \w+)?$/);
        // The project's own build script, so every step it has (sensor, console, proto) is in.
        assert.ok(ins.some((i) => i.op === 'RUN' && i.args.startsWith('node scripts/build.mjs')));
        // The runtime stage takes only built output from the build stage, no compilers.
        const runtime = ins.slice(ins.lastIndexOf(froms[froms.length - 1] as { op: string; args: string }));
        for (const r of runtime.filter((i) => i.op === 'RUN'))
          assert.doesNotMatch(r.args, /\b(clang|g\+\+|gcc|npm ci)\b/, 'no toolchain in the runtime stage');
      });

      it('copies only paths that exist and that .dockerignore lets through', () => {
        const ignored = readFileSync(join(projectRoot, '.dockerignore'), 'utf8')
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '' && !l.startsWith('#'));
        for (const c of ins.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
          const sources = c.args.split(/\s+/).slice(0, -1);
          for (const s of sources) {
            if (s === '.') continue;
            assert.ok(existsSync(join(projectRoot, s)), `${file}: COPY ${s}: no such path`);
            assert.ok(
              !ignored.some((g) => s === g || s.startsWith(`${g}/`)),
              `${file}: ${s} is in .dockerignore`,
            );
          }
        }
        for (const needed of [
          'package.json',
          'package-lock.json',
          'rules',
          'proto',
          'scripts',
          'agent',
          'collector',
          'core',
          'cli',
        ])
          assert.ok(!ignored.includes(needed), `.dockerignore hides ${needed}`);
        assert.ok(ignored.includes('node_modules') && ignored.includes('.git'));
      });
    });
  }

  it('the agent image refuses to build without the eBPF sensor, and carries nftables and conntrack', () => {
    const ins = instructions(read('agent.Dockerfile'));
    assert.ok(
      ins.some((i) => i.op === 'RUN' && i.args.includes('test -x dist/agent/sources/ebpf/vigil-sensor')),
    );
    assert.ok(ins.some((i) => i.op === 'RUN' && /apt-get install .*\bnftables conntrack\b/.test(i.args)));
    assert.equal(ins.filter((i) => i.op === 'USER').pop()?.args, '0:0');
  });

  it('the collector image runs as the non-root uid its Deployment expects', () => {
    const user = instructions(read('collector.Dockerfile'))
      .filter((i) => i.op === 'USER')
      .pop()?.args;
    const deployment = plainManifests().find((m) => kindOf(m) === 'Deployment');
    const uid = at(deployment?.doc, 'spec.template.spec.securityContext.runAsUser');
    const gid = at(deployment?.doc, 'spec.template.spec.securityContext.runAsGroup');
    assert.equal(user, `${String(uid)}:${String(gid)}`);
    assert.notEqual(uid, 0);
  });
});
