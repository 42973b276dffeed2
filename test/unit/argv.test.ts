import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { splitCommandLine } from '../../src/restore/argv.ts';

describe('splitCommandLine', () => {
  it('splits on runs of whitespace', () => {
    assert.deepEqual(splitCommandLine('  systemctl   stop\tetcd\n'), ['systemctl', 'stop', 'etcd']);
    assert.deepEqual(splitCommandLine(''), []);
    assert.deepEqual(splitCommandLine('   '), []);
  });

  it('keeps single-quoted text literally', () => {
    assert.deepEqual(splitCommandLine(`echo 'a b' '$HOME' 'x"y' '\\n'`), ['echo', 'a b', '$HOME', 'x"y', '\\n']);
  });

  it('honours \\" and \\\\ in double quotes and keeps other backslashes', () => {
    assert.deepEqual(splitCommandLine(String.raw`echo "say \"hi\"" "a\\b" "c\d" "\$HOME"`), ['echo', 'say "hi"', 'a\\b', 'c\\d', '$HOME']);
  });

  it('joins adjacent quoted and unquoted parts into one word', () => {
    assert.deepEqual(splitCommandLine(`--name='my etcd'"-1"x`), ['--name=my etcd-1x']);
  });

  it('keeps empty quoted words', () => {
    assert.deepEqual(splitCommandLine(`a '' "" b`), ['a', '', '', 'b']);
  });

  it('unquoted backslash escapes the next character; backslash-newline joins lines', () => {
    assert.deepEqual(splitCommandLine(String.raw`a\ b \; c\$d`), ['a b', ';', 'c$d']);
    assert.deepEqual(splitCommandLine('stop \\\n  etcd'), ['stop', 'etcd']);
  });

  it('allows operator characters when quoted', () => {
    assert.deepEqual(splitCommandLine(`grep 'a|b' "x > y" ';'`), ['grep', 'a|b', 'x > y', ';']);
  });

  it('allows a literal $ that starts no expansion, and ~ inside a word', () => {
    assert.deepEqual(splitCommandLine('echo price$ a~b $'), ['echo', 'price$', 'a~b', '$']);
  });

  for (const [text, what] of [
    [`echo 'oops`, 'unterminated single quote'],
    [`echo "oops`, 'unterminated double quote'],
    ['echo \\', 'trailing backslash'],
  ] as const) {
    it(`rejects ${what}`, () => {
      assert.throws(() => splitCommandLine(text), (e: unknown) => e instanceof InputError && e.message.includes(what));
    });
  }

  for (const text of [
    'systemctl stop etcd ; rm -rf /',
    'a | b',
    'a && b',
    'a || b',
    'a > out',
    'a >> out',
    'a < in',
    'a &',
    'a 2>&1',
    'stop etcd;',
    '(a)',
    'echo `id`',
    'echo "`id`"',
    'echo $(id)',
    'echo "$(id)"',
    'echo $HOME',
    'echo ${HOME}',
    'echo "$HOME"',
    '~/bin/stop-etcd',
  ]) {
    it(`rejects shell syntax: ${text}`, () => {
      assert.throws(
        () => splitCommandLine(text),
        (e: unknown) =>
          e instanceof InputError && e.message.includes('run a program with arguments, not a shell line') && e.message.includes(JSON.stringify(text)),
      );
    });
  }

  it('names the operator it refused', () => {
    assert.throws(() => splitCommandLine('a && b'), /shell operator "&&"/);
    assert.throws(() => splitCommandLine('a || b'), /shell operator "\|\|"/);
  });
});
