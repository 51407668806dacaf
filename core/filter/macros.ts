/**
 * Macro resolution on the condition tree: every bare identifier in condition position
 * (`and not shell_procs`) is replaced by the tree of the macro it names, recursively, as Falco's
 * `filter_macro_resolver` does. Which macros are visible is the caller's business (the rule
 * loader lets a macro see only macros defined before it); this module only substitutes.
 *
 * Trees are immutable, so a macro's tree is shared, not copied, wherever it is used. Nodes keep
 * the positions they had in the macro's own condition text.
 */
import type { Expr, Position } from './ast.js';

/** Something that kept a macro reference from resolving. */
export interface MacroProblem {
  /** `undefined`: no macro of that name is visible; `loop`: the macro (indirectly) uses itself. */
  readonly kind: 'undefined' | 'loop';
  /** The macro name as written. */
  readonly name: string;
  /** Where the reference stands, in the text of the condition or macro that contains it. */
  readonly pos: Position;
  /** One line for people: what was found and what was expected. */
  readonly message: string;
}

/** The outcome of {@link resolveMacros}. */
export interface MacroResolution {
  /** The tree with every resolvable reference replaced; unresolvable ones are left in place. */
  readonly expr: Expr;
  /** Names of the macros that were substituted (directly or through other macros). */
  readonly used: ReadonlySet<string>;
  /** References that could not be resolved, in the order they were met. */
  readonly problems: readonly MacroProblem[];
}

/**
 * Replaces macro references in `expr` by the trees in `macros` (name -> parsed condition),
 * following references inside substituted macros too. A reference to a name missing from
 * `macros` is reported as `undefined` ("Undefined macro NAME"), one that leads back to a macro
 * being expanded as `loop`; both are left unresolved so that resolution can report every problem
 * in one pass.
 *
 * @example
 *   const shell = parseCondition('proc.name in (bash, sh)');
 *   resolveMacros(parseCondition('spawned_process and shell'), new Map([['shell', shell]]))
 *   // problems: [{ kind: 'undefined', name: 'spawned_process', ... }]
 */
export function resolveMacros(expr: Expr, macros: ReadonlyMap<string, Expr>): MacroResolution {
  const used = new Set<string>();
  const problems: MacroProblem[] = [];
  const path: string[] = [];

  const visit = (node: Expr): Expr => {
    switch (node.kind) {
      case 'and':
      case 'or': {
        let changed = false;
        const children = node.children.map((child) => {
          const next = visit(child);
          if (next !== child) changed = true;
          return next;
        });
        return changed ? { kind: node.kind, children, pos: node.pos } : node;
      }
      case 'not': {
        const child = visit(node.child);
        return child === node.child ? node : { kind: 'not', child, pos: node.pos };
      }
      case 'macro': {
        const body = macros.get(node.name);
        if (body === undefined) {
          problems.push({
            kind: 'undefined',
            name: node.name,
            pos: node.pos,
            message: `Undefined macro '${node.name}': expected a macro defined before this point (or a field check), found an unknown name`,
          });
          return node;
        }
        if (path.includes(node.name)) {
          problems.push({
            kind: 'loop',
            name: node.name,
            pos: node.pos,
            message: `Reference loop in macro '${node.name}': ${[...path, node.name].join(' -> ')}`,
          });
          return node;
        }
        path.push(node.name);
        const resolved = visit(body);
        path.pop();
        used.add(node.name);
        return resolved;
      }
      case 'unary':
      case 'binary':
        return node;
    }
  };

  return { expr: visit(expr), used, problems };
}
