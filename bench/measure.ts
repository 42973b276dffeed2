/**
 * Timing and memory measurement of child processes, and the small statistics the report needs.
 *
 * Children run in their own process group (so /usr/bin/time's child dies with it on cleanup) under
 * GNU time when it is installed (`apt-get install -y time`), which reports the peak RSS and CPU time
 * the kernel accounted; without it, /proc/<pid>/status VmHWM (the kernel's own high-water mark) is
 * polled every 50 ms, which sees the same peak unless the process grows in its last 50 ms.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export const GNU_TIME = '/usr/bin/time';

/** Process groups we started and that may still run; killed by killAllChildren(). */
const groups = new Set<number>();

/** SIGKILLs every process group still running (cleanup on failure or on a signal). Synchronous. */
export function killAllChildren(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  groups.clear();
}

export interface StderrLine {
  /** seconds since the child started */
  readonly at: number;
  readonly line: string;
}

export interface TimedRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** wall clock, performance.now() from spawn to exit */
  readonly seconds: number;
  /** peak resident set of the child (KiB), if measured */
  readonly peakRssKiB?: number;
  /** user + system CPU seconds of the child and its waited-for descendants (GNU time only) */
  readonly cpuSeconds?: number;
  readonly stdout: string;
  readonly stderr: readonly StderrLine[];
}

export interface TimedOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** measure peak RSS / CPU (GNU time or /proc polling) */
  readonly measure?: boolean;
  /** a file for GNU time's report (needed when measure is set and GNU time exists) */
  readonly timeFile?: string;
  readonly timeoutMs?: number;
}

/** Runs `file args`, timing it; never rejects on a non-zero exit (the caller checks `code`). */
export async function runTimed(file: string, args: readonly string[], options: TimedOptions = {}): Promise<TimedRun> {
  const useTime = options.measure === true && existsSync(GNU_TIME) && options.timeFile !== undefined;
  const [command, argv] = useTime
    ? [GNU_TIME, ['-f', '%e %M %U %S', '-o', options.timeFile!, file, ...args]]
    : [file, [...args]];
  const started = performance.now();
  const child = spawn(command, argv, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid;
  if (pid !== undefined) groups.add(pid);

  let stdout = '';
  const stderr: StderrLine[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  child.stderr.on('data', (d: string) => {
    const at = (performance.now() - started) / 1000;
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) stderr.push({ at, line });
  });

  let peakFromProc = 0;
  const poller =
    options.measure === true && !useTime && pid !== undefined
      ? setInterval(() => {
          void readFile(`/proc/${pid}/status`, 'utf8').then(
            (status) => {
              const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
              if (kib > peakFromProc) peakFromProc = kib;
            },
            () => undefined,
          );
        }, 50)
      : undefined;
  const timer = options.timeoutMs !== undefined ? setTimeout(() => killGroup(pid), options.timeoutMs) : undefined;

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c: number | null, s: NodeJS.Signals | null) => resolve({ code: c, signal: s }));
  });
  const seconds = (performance.now() - started) / 1000;
  if (poller) clearInterval(poller);
  if (timer) clearTimeout(timer);
  if (pid !== undefined) {
    // The leader exited; anything left in its group (it should be nothing) goes too.
    killGroup(pid);
    groups.delete(pid);
  }
  if (partial !== '') stderr.push({ at: seconds, line: partial });

  let peakRssKiB: number | undefined;
  let cpuSeconds: number | undefined;
  if (useTime) {
    // GNU time prefixes "Command exited with non-zero status N" on failures: the numbers are the last line.
    const report = (await readFile(options.timeFile!, 'utf8').catch(() => '')).trim().split('\n').pop() ?? '';
    const [, rss, user, sys] = report.split(/\s+/).map(Number);
    if (rss !== undefined && Number.isFinite(rss)) peakRssKiB = rss;
    if (user !== undefined && sys !== undefined && Number.isFinite(user + sys)) cpuSeconds = user + sys;
    await rm(options.timeFile!, { force: true });
  } else if (options.measure === true && peakFromProc > 0) {
    peakRssKiB = peakFromProc;
  }
  return {
    code,
    signal,
    seconds,
    stdout,
    stderr,
    ...(peakRssKiB !== undefined ? { peakRssKiB } : {}),
    ...(cpuSeconds !== undefined ? { cpuSeconds } : {}),
  };
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Throws with the command's output when it did not exit 0. */
export function assertOk(run: TimedRun, what: string): TimedRun {
  if (run.code !== 0) {
    const tail = run.stderr.slice(-20).map((l) => l.line).join('\n');
    throw new Error(`${what} failed (exit ${run.code ?? run.signal})\n${tail}\n${run.stdout.slice(-2000)}`);
  }
  return run;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const MIB = 1024 * 1024;

/** Bytes per second as MB/s (10^6), the unit scp and most tools print. */
export function mbps(bytes: number, seconds: number): string {
  return `${(bytes / 1e6 / seconds).toFixed(0)} MB/s`;
}

export function fixed(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

/** A markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The regular files directly below `dir` and one level down, with their sizes. */
export async function filesUnder(dir: string): Promise<{ name: string; size: number }[]> {
  const out: { name: string; size: number }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      for (const inner of await readdir(full, { withFileTypes: true })) {
        if (inner.isFile()) out.push({ name: `${entry.name}/${inner.name}`, size: (await stat(path.join(full, inner.name))).size });
      }
    } else if (entry.isFile()) {
      out.push({ name: entry.name, size: (await stat(full)).size });
    }
  }
  return out;
}

/** When a group of files first appeared and last grew, as sampled by GrowthWatcher. */
export interface Growth {
  /** seconds since start() when a file of the group was first seen */
  readonly firstSeen: number;
  /** seconds since start() when a file of the group last changed size (or appeared) */
  readonly lastGrowth: number;
  /** the largest size a file of the group reached */
  readonly maxBytes: number;
}

/**
 * Samples file sizes under some directories every `intervalMs`, to time the stages of a pipeline that
 * runs in another process without instrumenting it: a spool file stops growing when its stage is done,
 * a file on a site stops growing when that upload is done. `classify` maps a path (relative to its
 * directory) to a group label, or undefined to ignore it.
 */
export class GrowthWatcher {
  private readonly groups = new Map<string, { firstSeen: number; lastGrowth: number; maxBytes: number }>();
  private readonly sizes = new Map<string, number>();
  private started = 0;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();

  constructor(
    private readonly dirs: Readonly<Record<string, string>>,
    private readonly classify: (dirLabel: string, relative: string) => string | undefined,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.started = performance.now();
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample());
    }, this.intervalMs);
  }

  async stop(): Promise<Map<string, Growth>> {
    if (this.timer) clearInterval(this.timer);
    await this.sampling;
    return new Map(this.groups);
  }

  private async sample(): Promise<void> {
    const at = (performance.now() - this.started) / 1000;
    for (const [dirLabel, dir] of Object.entries(this.dirs)) {
      for (const file of await walk(dir, '', 3)) {
        const label = this.classify(dirLabel, file.relative);
        if (label === undefined) continue;
        const id = `${dirLabel}:${file.relative}`;
        const before = this.sizes.get(id);
        this.sizes.set(id, file.size);
        const group = this.groups.get(label) ?? { firstSeen: at, lastGrowth: at, maxBytes: 0 };
        if (before !== file.size) group.lastGrowth = at;
        group.maxBytes = Math.max(group.maxBytes, file.size);
        this.groups.set(label, group);
      }
    }
  }
}

async function walk(dir: string, prefix: string, depth: number): Promise<{ relative: string; size: number }[]> {
  const out: { relative: string; size: number }[] = [];
  let entries;
  try {
    entries = await readdir(path.join(dir, prefix), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory() && depth > 0) out.push(...(await walk(dir, relative, depth - 1)));
    else if (entry.isFile()) {
      try {
        out.push({ relative, size: (await stat(path.join(dir, relative))).size });
      } catch {
        // removed between readdir and stat
      }
    }
  }
  return out;
}

/**
 * CPU used on this machine by processes that are not part of the bench (a test suite run alongside,
 * another bench). The bench's own CPU is this process, its reaped children (cutime/cstime: the CLI,
 * etcdctl, scp) and the long-running servers whose pids `ownPids` returns (etcd, the sshd listeners,
 * whose per-connection children are reaped into their cutime). Kernel work on our behalf (page-cache
 * writeback) counts as foreign, so a quiet machine shows a little.
 */
export class CpuMeter {
  private readonly tick = 100; // USER_HZ on Linux

  constructor(private readonly ownPids: () => readonly number[]) {}

  /** Busy CPU seconds of the whole machine and of the bench, now. */
  async sample(): Promise<{ busy: number; own: number }> {
    const stat = await readFile('/proc/stat', 'utf8');
    const cpu = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + (cpu[i] ?? 0), 0) / this.tick;
    let own = 0;
    for (const pid of [process.pid, ...this.ownPids()]) own += await this.processSeconds(pid);
    return { busy, own };
  }

  /** Foreign CPU seconds between two samples. */
  static foreign(before: { busy: number; own: number }, after: { busy: number; own: number }): number {
    return Math.max(0, after.busy - before.busy - (after.own - before.own));
  }

  private async processSeconds(pid: number): Promise<number> {
    try {
      const text = await readFile(`/proc/${pid}/stat`, 'utf8');
      // Fields after the parenthesised command name: state is [0], utime [11], stime [12], cutime [13], cstime [14].
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
      return ((rest[11] ?? 0) + (rest[12] ?? 0) + (rest[13] ?? 0) + (rest[14] ?? 0)) / this.tick;
    } catch {
      return 0;
    }
  }
}
