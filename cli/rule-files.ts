/**
 * Reads rule files named on the command line: files are read as given; a directory contributes
 * its `*.yaml` and `*.yml` files in name order (as Falco does with `rules_files` directories).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RuleSource } from '../core/rules/loader.js';

/** Reads every named file or directory; throws an Error naming the path when one cannot be read. */
export function readRuleSources(paths: readonly string[]): RuleSource[] {
  const sources: RuleSource[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      throw new Error(`cannot read rules file ${path}: ${(err as Error).message}`, { cause: err });
    }
    const files = isDir
      ? readdirSync(path)
          .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
          .sort()
          .map((f) => join(path, f))
      : [path];
    for (const file of files) {
      try {
        sources.push({ name: file, text: readFileSync(file, 'utf8') });
      } catch (err) {
        throw new Error(`cannot read rules file ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
  return sources;
}
