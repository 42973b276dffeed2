/**
 * Word splitting for the stop-command / start-command inputs. Those commands are run with execFile (a
 * program and its arguments, never a shell), so user text must not be able to smuggle in shell syntax. We
 * split the way a POSIX shell would (quotes, backslashes, whitespace) but expand nothing, and we refuse
 * syntax a shell would have interpreted (operators, substitutions, variables, `~`): passing it through
 * literally would run something other than what the user wrote, which is worse than an error.
 */
import { InputError } from '../errors.ts';

const HINT =
  'stop-command/start-command run a program with arguments, not a shell line; ' +
  "put pipelines, redirections or variables in a script and name the script (or quote the character: '…')";

// Unquoted, these characters start shell operators (; | & && || > < >> ( )), which we do not run.
const OPERATOR_CHARS = new Set([';', '|', '&', '<', '>', '(', ')']);
const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

function refuse(what: string, text: string): never {
  throw new InputError(`${what} in ${JSON.stringify(text)}: ${HINT}`);
}

/** True when `$` at `i` would start an expansion in a shell ($VAR, ${VAR}, $(cmd), $1, $?, ...). */
function startsExpansion(text: string, i: number): boolean {
  const next = text[i + 1];
  return next !== undefined && /[A-Za-z0-9_({?!#*@$-]/.test(next);
}

/**
 * Splits `text` into argv words like a POSIX shell without any expansion: single quotes are literal,
 * double quotes honour \" \\ \$ \` (other backslashes stay), an unquoted backslash escapes the next
 * character (backslash-newline joins lines). Throws InputError for unterminated quotes, a trailing
 * backslash, shell operators, command substitution, variables and a leading `~`.
 */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = '';
  // A word exists once anything (even an empty '' pair) was seen, so `a '' b` gives three words.
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (WHITESPACE.has(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) refuse('unterminated single quote', text);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (c === '"') {
      i++;
      for (;;) {
        const d = text[i];
        if (d === undefined) refuse('unterminated double quote', text);
        if (d === '"') break;
        if (d === '\\') {
          const e = text[i + 1];
          if (e === '"' || e === '\\' || e === '$' || e === '`') {
            word += e;
            i += 2;
            continue;
          }
          if (e === '\n') {
            i += 2;
            continue;
          }
        } else if (d === '`') {
          refuse('command substitution (`…`)', text);
        } else if (d === '$' && startsExpansion(text, i)) {
          refuse(`shell expansion (${text.slice(i, i + 2)}…)`, text);
        }
        word += d;
        i++;
      }
      inWord = true;
      i++;
      continue;
    }
    if (c === '\\') {
      const e = text[i + 1];
      if (e === undefined) refuse('trailing backslash', text);
      if (e !== '\n') {
        word += e;
        inWord = true;
      }
      i += 2;
      continue;
    }
    if (c === '`') refuse('command substitution (`…`)', text);
    if (c === '$' && startsExpansion(text, i)) refuse(`shell expansion (${text.slice(i, i + 2)}…)`, text);
    if (OPERATOR_CHARS.has(c)) {
      // Name the whole operator (&&, ||, >>, 2>&1 shows as its first operator character) for the message.
      const op = /^(&&|\|\||>>|[;|&<>()])/.exec(text.slice(i))?.[0] ?? c;
      refuse(`shell operator ${JSON.stringify(op)}`, text);
    }
    if (c === '~' && !inWord) refuse('home directory expansion (~)', text);
    word += c;
    inWord = true;
    i++;
  }
  if (inWord) words.push(word);
  return words;
}
