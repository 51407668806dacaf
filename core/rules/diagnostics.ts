/**
 * Problems found while loading rule files, each pinned to a file, line and column, and the
 * bookkeeping that turns offsets into those positions.
 *
 * Every text the loader reads is registered in one {@link SourceSet}, which gives each file a
 * disjoint range of "global" offsets. Texts the loader assembles (a condition built from several
 * YAML scalars, exceptions and list items) carry a global offset per character, so a position
 * inside the assembled text leads back to the file it came from.
 */
import { LineCounter } from 'yaml';

/** One error or warning from loading rules. Lines and columns are 1-based. */
export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  /** The rule file's name as given in its {@link RuleSource}. */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** What was expected and what was found. */
  readonly message: string;
  /** The list, macro or rule the problem belongs to, when there is one. */
  readonly item?: string;
}

/** A place in a rule file. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** One rule file's text and line table, placed at `base` in the global offset space. */
export class SourceFile {
  readonly lines = new LineCounter();

  constructor(
    readonly name: string,
    readonly text: string,
    readonly base: number,
  ) {}

  /** The global offset of `offset` in this file. */
  global(offset: number): number {
    return this.base + offset;
  }

  /** The line and column of `offset` in this file. */
  locate(offset: number): SourceLocation {
    // LineCounter is filled by the YAML parser; fall back to counting for texts it did not see.
    if (this.lines.lineStarts.length === 0) {
      this.lines.addNewLine(0);
      for (let i = 0; i < this.text.length; i++)
        if (this.text.charCodeAt(i) === 0x0a) this.lines.addNewLine(i + 1);
    }
    const clamped = Math.max(0, Math.min(offset, this.text.length));
    const { line, col } = this.lines.linePos(clamped);
    return { file: this.name, line, column: col };
  }
}

/** The files of one load, in a shared global offset space. */
export class SourceSet {
  private readonly files: SourceFile[] = [];
  private next = 0;

  /** Registers a file and returns it. */
  add(name: string, text: string): SourceFile {
    const file = new SourceFile(name, text, this.next);
    // One spare offset past the end, so "end of file" still belongs to this file.
    this.next += text.length + 1;
    this.files.push(file);
    return file;
  }

  /** The file and position of a global offset, or undefined for -1 (text the loader made up). */
  locate(global: number): SourceLocation | undefined {
    if (global < 0) return undefined;
    for (let i = this.files.length - 1; i >= 0; i--) {
      const file = this.files[i] as SourceFile;
      if (global >= file.base) return file.locate(global - file.base);
    }
    return undefined;
  }
}

/** Collects diagnostics in the order they are found. */
export class DiagnosticList {
  readonly items: Diagnostic[] = [];

  constructor(private readonly sources: SourceSet) {}

  /** Records an error at global offset `at` (or at `fallback` when `at` is made-up text). */
  error(at: number, message: string, item?: string, fallback?: number): void {
    this.add('error', at, message, item, fallback);
  }

  /** Records a warning at global offset `at`. */
  warning(at: number, message: string, item?: string, fallback?: number): void {
    this.add('warning', at, message, item, fallback);
  }

  /** True when at least one error was recorded. */
  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }

  private add(
    severity: Diagnostic['severity'],
    at: number,
    message: string,
    item: string | undefined,
    fallback: number | undefined,
  ): void {
    const loc = this.sources.locate(at) ??
      (fallback !== undefined ? this.sources.locate(fallback) : undefined) ?? {
        file: '<unknown>',
        line: 0,
        column: 0,
      };
    const d: Diagnostic =
      item === undefined ? { severity, ...loc, message } : { severity, ...loc, message, item };
    this.items.push(d);
  }
}
