/**
 * The floor for `vigil replay`: reads a JSON-lines file exactly as replay does (same stream
 * settings, same line splitter) and only JSON.parses each line. `test/bench/engine` times both.
 */
import { createReadStream } from 'node:fs';
import { readLines } from '../../agent/sources/read-lines.js';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: json-parse-floor FILE');
let objects = 0;
await readLines(createReadStream(file, { highWaterMark: 1 << 20 }), {
  line(text) {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object') objects++;
  },
  oversized() {},
});
process.stdout.write(`${objects}\n`);
