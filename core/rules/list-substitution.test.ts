import assert from 'node:assert/strict';
import { quoteItem } from './item-quoting.js';
import { substituteList } from './list-substitution.js';
import { MappedText } from './mapped-text.js';

const sub = (cond: string, name: string, items: string[]) =>
  substituteList(MappedText.verbatim(cond, 1000), name, items);

describe('substituteList', () => {
  it('replaces a delimited name, swallowing the blanks around it', () => {
    const r = sub('proc.name in (shell_binaries) and x', 'shell_binaries', ['bash', 'sh']);
    assert.equal(r.text.text, 'proc.name in ( bash, sh ) and x');
    assert.equal(r.used, true);
    assert.equal(
      sub('proc.name in (a,  shells  , b)', 'shells', ['bash']).text.text,
      'proc.name in (a, bash , b)',
    );
    assert.equal(sub('proc.name=shells', 'shells', ['bash']).text.text, 'proc.name= bash ');
    assert.equal(sub('shells', 'shells', ['bash', 'zsh']).text.text, 'bash, zsh ');
  });

  it('leaves names that are part of a longer word or a quoted string', () => {
    const r = sub('proc.name in (my_shells, shells_x) and fd.name="shells"', 'shells', ['bash']);
    assert.equal(r.text.text, 'proc.name in (my_shells, shells_x) and fd.name="shells"');
    assert.equal(r.used, false);
    // Falco does not look at quotes: a blank-delimited name inside a string is replaced too.
    assert.equal(sub('x contains "a shells b"', 'shells', ['sh']).text.text, 'x contains "a sh b"');
  });

  it('replaces every occurrence', () => {
    const r = sub('(a in (l) or b in (l))', 'l', ['1', '2']);
    assert.equal(r.text.text, '(a in ( 1, 2 ) or b in ( 1, 2 ))');
  });

  it('removes an adjacent comma for an empty list', () => {
    // Falco pads the (empty) substitution with a blank on each side, hence the runs of blanks.
    assert.equal(sub('x in (a, empty)', 'empty', []).text.text, 'x in (a  )');
    assert.equal(sub('x in (empty, a)', 'empty', []).text.text, 'x in (   a)');
    assert.equal(sub('x in (empty)', 'empty', []).text.text, 'x in (  )');
  });

  it('quotes items with blanks unless they are already quoted', () => {
    const r = sub('proc.cmdline in (cmds)', 'cmds', ['sh -c id', '"sh -c ls"', "'a b'", 'plain']);
    assert.equal(r.text.text, `proc.cmdline in ( "sh -c id", "sh -c ls", 'a b', plain )`);
    assert.equal(quoteItem('say "hi" now'), '"say \\"hi\\" now"');
    assert.equal(quoteItem('(systemd)'), '(systemd)');
  });

  it('maps substituted text to where the list name was written', () => {
    const r = sub('x in (shells) and y', 'shells', ['bash', 'sh']);
    const t = r.text;
    assert.equal(t.at[t.text.indexOf('bash')], 1000 + 'x in ('.length);
    assert.equal(t.at[t.text.indexOf('and')], 1000 + 'x in (shells) '.length);
    assert.equal(t.at[0], 1000);
  });
});
