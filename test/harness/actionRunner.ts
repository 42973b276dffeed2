/**
 * Runs a committed dist/ entry the way a GitHub runner does: inputs as `INPUT_<NAME>` variables (hyphens
 * kept), outputs through the GITHUB_OUTPUT file, the job summary through GITHUB_STEP_SUMMARY.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './tmp.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ActionRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputs: Record<string, string>;
  readonly summary: string;
}

export interface ActionRunOptions {
  /** Extra environment (GITHUB_REPOSITORY, GITHUB_API_URL...). */
  readonly env?: Record<string, string>;
  readonly event?: unknown;
  readonly timeoutMs?: number;
}

let checkout: Promise<string> | undefined;

/**
 * The action as another repository gets it with `uses: owner/etcd-dr@v1`: the committed files only,
 * with no node_modules anywhere above them, so a bundle that still needs a package on disk fails here.
 */
function actionCheckout(): Promise<string> {
  checkout ??= (async () => {
    const dir = await tempDir('etcd-dr-action-');
    await cp(path.join(REPO_ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
    await cp(path.join(REPO_ROOT, 'action.yml'), path.join(dir, 'action.yml'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  })();
  return checkout;
}

export async function runDist(entry: string, inputs: Record<string, string>, options: ActionRunOptions = {}): Promise<ActionRun> {
  const actionDir = await actionCheckout();
  const dir = await tempDir('etcd-dr-runner-');
  try {
    const outputFile = path.join(dir, 'output');
    const summaryFile = path.join(dir, 'summary');
    const eventFile = path.join(dir, 'event.json');
    await writeFile(outputFile, '');
    await writeFile(summaryFile, '');
    await writeFile(eventFile, JSON.stringify(options.event ?? {}));
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/root',
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_EVENT_PATH: eventFile,
      GITHUB_ACTIONS: 'true',
      RUNNER_TEMP: dir,
      RUNNER_NAME: 'test-runner',
      ...options.env,
    };
    for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
    const child = spawn(process.execPath, [path.join(actionDir, 'dist', entry)], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    return {
      code,
      stdout,
      stderr,
      outputs: parseOutputFile(await readFile(outputFile, 'utf8')),
      summary: await readFile(summaryFile, 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Parses GITHUB_OUTPUT's `name<<DELIMITER\nvalue\nDELIMITER` records. */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (match) {
      const [, name, delimiter] = match as unknown as [string, string, string];
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]!);
      outputs[name] = value.join('\n');
    } else if (lines[i]!.includes('=')) {
      const at = lines[i]!.indexOf('=');
      outputs[lines[i]!.slice(0, at)] = lines[i]!.slice(at + 1);
    }
  }
  return outputs;
}
