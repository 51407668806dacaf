/**
 * Test-only fields standing in for the mock filterchecks of libsinsp's unit tests, so that the
 * conformance cases taken from those tests run against our compiler unchanged:
 *
 * - `c.true` / `c.false`: libsinsp's mocks answer every check true / false; the cases only ask
 *   `c.true=1` and `c.false=1`, so the mocks hold the values "1" and "0".
 * - `c.doublequote` / `c.singlequote`: hold `hello "quoted"` and `hello 'quoted'`, the values the
 *   escaping cases compare against.
 * - `c.buffer`: a byte buffer, for the buffer operators.
 * - `sample.*`: fields of libsinsp's sample plugin (`sample.is_open`, `sample.proc_name`,
 *   `sample.tick`), read from the event record like any field.
 */
import { defineField } from '../../core/fields/catalogue-support.js';
import type { FieldDef } from '../../core/fields/types.js';

/** A charbuf mock field answering `value` for every event. */
function constant(name: string, value: string, description: string): FieldDef {
  const def = defineField({ name, type: 'charbuf', description });
  return { ...def, extractor: () => () => value };
}

/** The mock fields, to pass as `extra` to `createFieldRegistry`. */
export function mockFields(): FieldDef[] {
  return [
    constant('c.true', '1', 'Mock: always "1", so c.true=1 holds.'),
    constant('c.false', '0', 'Mock: always "0", so c.false=1 fails.'),
    constant('c.doublequote', 'hello "quoted"', 'Mock: a value with double quotes.'),
    constant('c.singlequote', "hello 'quoted'", 'Mock: a value with single quotes.'),
    defineField({
      name: 'c.buffer',
      type: 'bytebuf',
      description: 'Mock: a byte buffer from the event record.',
    }),
    defineField({
      name: 'sample.is_open',
      type: 'uint64',
      description: 'Sample plugin: 1 when the file is open.',
    }),
    defineField({ name: 'sample.proc_name', type: 'charbuf', description: 'Sample plugin: process name.' }),
    defineField({
      name: 'sample.tick',
      type: 'charbuf',
      description: 'Sample plugin: whether the event is a tick.',
    }),
  ];
}
