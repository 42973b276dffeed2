// Prints the README's "Inputs and outputs" tables from action.yml, so the two never drift apart:
//   node scripts/readme-inputs.mjs   (paste between the markers in README.md)
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const action = parse(readFileSync(new URL('../action.yml', import.meta.url), 'utf8'));
const cell = (text) => String(text ?? '').replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
const lines = ['| input | default | description |', '| --- | --- | --- |'];
for (const [name, input] of Object.entries(action.inputs)) {
  const fallback = input.default === undefined || input.default === '' ? '' : `\`${cell(input.default)}\``;
  lines.push(`| \`${name}\` | ${fallback} | ${cell(input.description)} |`);
}
lines.push('', '| output | description |', '| --- | --- |');
for (const [name, output] of Object.entries(action.outputs)) lines.push(`| \`${name}\` | ${cell(output.description)} |`);
console.log(lines.join('\n'));
