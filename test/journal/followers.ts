/**
 * Journal followers as an operator runs them: `etcd-dr journal` child processes of the CLI (from source,
 * `node --import tsx src/cli/main.ts journal ...`), one per etcd member, each talking only to its own
 * member like a follower on that node would, all publishing to the same two real OpenSSH sites.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../harness/actionRunner.ts';
import { track } from '../harness/process.ts';
import type { SftpSite } from '../harness/sftp.ts';

export interface Follower {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  log(): Promise<string>;
}

/** The flags every follower of a test shares (sites and credentials as files, like the systemd unit). */
export async function siteFlags(dir: string, sites: readonly SftpSite[]): Promise<string[]> {
  const keyFile = path.join(dir, 'id_ed25519');
  const knownHostsFile = path.join(dir, 'known_hosts');
  await writeFile(keyFile, sites[0]!.privateKey, { mode: 0o600 });
  await writeFile(knownHostsFile, sites.map((s) => s.knownHosts).join('\n'));
  return [...sites.flatMap((s) => ['--stores', s.url]), '--ssh-private-key-file', keyFile, '--ssh-known-hosts-file', knownHostsFile];
}

export function operatorEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(GITHUB_|ETCDCTL_|ETCD_DR_|INPUT_|RUNNER_)/.test(name)) env[name] = value;
  }
  return { ...env, ...extra };
}

export function startFollower(name: string, dir: string, args: readonly string[], env: NodeJS.ProcessEnv = operatorEnv()): Follower {
  const logFile = path.join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts'), 'journal', ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  track(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, logFile, exited, log: () => readFile(logFile, 'utf8').catch(() => '') };
}

/** Whether a follower writes now: its last role line says writer (it may have lost the lock and stood by since). */
async function writesNow(f: Follower): Promise<boolean> {
  if (f.child.exitCode !== null || f.child.signalCode !== null) return false;
  const roles = (await f.log()).split('\n').filter((l) => l.includes('journal: writer (lock') || l.includes('journal: standby') || l.includes('standing by'));
  return roles.at(-1)?.includes('journal: writer (lock') ?? false;
}

/** Waits until one of the followers is the writer now; returns it. */
export async function waitForWriter(followers: readonly Follower[], timeoutMs = 60_000): Promise<Follower> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const f of followers) if (await writesNow(f)) return f;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no follower became the writer: ${(await Promise.all(followers.map(async (f) => `--- ${f.name}\n${(await f.log()).slice(-2000)}`))).join('\n')}`);
}
