/**
 * How etcd is stopped and started on this node around a restore. A restore replaces etcd's data dir, so it
 * must never run under a live etcd: every kind that stops etcd is followed by a check that the client port
 * no longer answers. Kinds: a systemd unit, a kubeadm static pod (the kubelet stops the pod when its
 * manifest leaves the manifests dir), user-given commands (run as argv, never through a shell), or `none`
 * (the operator does it by hand).
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, copyFile, mkdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { InputError, inContext, messageOf } from '../errors.ts';
import { whenAborted } from './cancellation.ts';
import { Inputs } from '../config/names.ts';
import type { Log } from '../base/log.ts';
import { splitCommandLine } from './argv.ts';

export type EtcdService =
  | { kind: 'systemd'; unit: string }
  | { kind: 'static-pod'; manifest: string }
  | { kind: 'commands'; stop: string[]; start: string[] }
  | { kind: 'none' };

const UNIT_NAME = /^[A-Za-z0-9@._-]+$/;
const FORMS = 'systemd:<unit>, static-pod:<absolute manifest path, e.g. /etc/kubernetes/manifests/etcd.yaml>, none';

function present(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

function commandArgv(name: string, text: string): string[] {
  let argv: string[];
  try {
    argv = splitCommandLine(text);
  } catch (error) {
    throw new InputError(`${name}: ${messageOf(error)}`, { cause: error });
  }
  if (argv.length === 0) throw new InputError(`${name} is empty`);
  return argv;
}

/**
 * Parses etcd-service / stop-command / start-command. Empty strings count as not given (workflow inputs
 * arrive as ''). There is deliberately no default: guessing `none` would let a restore run under a live etcd.
 */
export function parseEtcdService(input: { service?: string; stopCommand?: string; startCommand?: string }): EtcdService {
  const service = present(input.service);
  const stop = present(input.stopCommand);
  const start = present(input.startCommand);

  if (stop !== undefined || start !== undefined) {
    if (service !== undefined) {
      throw new InputError(
        `give either ${Inputs.EtcdService} or ${Inputs.StopCommand} + ${Inputs.StartCommand}, not both ` +
          `(${Inputs.EtcdService} is ${JSON.stringify(service)})`,
      );
    }
    if (stop === undefined || start === undefined) {
      const missing = stop === undefined ? Inputs.StopCommand : Inputs.StartCommand;
      throw new InputError(`${Inputs.StopCommand} and ${Inputs.StartCommand} go together: ${missing} is missing`);
    }
    return { kind: 'commands', stop: commandArgv(Inputs.StopCommand, stop), start: commandArgv(Inputs.StartCommand, start) };
  }

  if (service === undefined) {
    throw new InputError(
      `${Inputs.EtcdService} is required for a live restore (${FORMS}), or give ${Inputs.StopCommand} and ${Inputs.StartCommand}`,
    );
  }
  if (service === 'none') return { kind: 'none' };

  const colon = service.indexOf(':');
  const kind = colon < 0 ? service : service.slice(0, colon);
  const value = colon < 0 ? '' : service.slice(colon + 1);
  if (kind === 'systemd') {
    // A leading '-' would be read by systemctl as an option.
    if (!UNIT_NAME.test(value) || value.startsWith('-')) {
      throw new InputError(
        `${Inputs.EtcdService}: systemd unit ${JSON.stringify(value)} is not valid: use letters, digits, '@', '.', '_', '-' (e.g. systemd:etcd.service)`,
      );
    }
    return { kind: 'systemd', unit: value };
  }
  if (kind === 'static-pod') {
    if (!path.isAbsolute(value)) {
      throw new InputError(
        `${Inputs.EtcdService}: static-pod needs an absolute manifest path (e.g. static-pod:/etc/kubernetes/manifests/etcd.yaml), got ${JSON.stringify(value)}`,
      );
    }
    return { kind: 'static-pod', manifest: path.normalize(value) };
  }
  throw new InputError(`${Inputs.EtcdService} ${JSON.stringify(service)} is not valid: use ${FORMS}`);
}

export interface ServiceControl {
  describe(): string;
  /**
   * Stops etcd; for every kind but `none`, resolves only once etcd's client port no longer answers. An abort
   * of `signal` (a cancelled restore) cuts that wait short, never the stop command itself: a stop half-sent
   * could be carried out after the restore started etcd again.
   */
  stop(signal?: AbortSignal): Promise<void>;
  start(): Promise<void>;
  /**
   * Starts etcd when it is not known whether an interrupted restore had stopped or started it (the post step):
   * never fails for etcd already running. systemd: `systemctl start` (a no-op on a running unit); static pod:
   * moves a held manifest back, or nothing when the manifest is in place; commands: start-command unless etcd
   * answers already. Resolves with what it did. Every control serviceControl() makes has it; optional so that
   * a dry run's stand-in (which never stops anything) need not.
   */
  resume?(): Promise<string>;
}

export type CommandRunner = (cmd: string, args: string[], options?: { signal?: AbortSignal }) => Promise<{ stdout: string; stderr: string }>;

export interface ServiceDeps {
  run: CommandRunner;
  log: Log;
  /** Probes etcd's client port on this node; false when nothing answers. */
  isServing(): Promise<boolean>;
  sleep(ms: number): Promise<void>;
  /** Where a static pod's manifest is held while etcd is down; default `<manifests dir>/../etcd-dr-held`. */
  heldDir?: string;
  /** How long to wait for etcd to stop serving; default 120 s (the kubelet can take a while to kill a pod). */
  stopTimeoutMs?: number;
  /** Poll interval for that wait; default 1 s. */
  pollMs?: number;
}

const DEFAULT_STOP_TIMEOUT_MS = 120_000;
const DEFAULT_POLL_MS = 1_000;

/** execFile (no shell) with the program, argv, exit status and stderr in the error; an abort of `signal` kills it. */
export function execRunner(timeoutMs = 300_000): CommandRunner {
  return (cmd, args, options = {}) =>
    new Promise((resolve, reject) => {
      const signal = options.signal ? { signal: options.signal } : {};
      execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', ...signal }, (error, stdout, stderr) => {
        if (error) {
          const detail = stderr.trim().split('\n').slice(-10).join('\n');
          reject(new Error(`${[cmd, ...args].join(' ')} failed: ${error.message.split('\n')[0]}${detail ? `\n${detail}` : ''}`, { cause: error }));
          return;
        }
        resolve({ stdout, stderr });
      });
    });
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** rename, falling back to copy + unlink when `heldDir` is on another filesystem. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(from, to, constants.COPYFILE_EXCL);
    await unlink(from);
  }
}

/** Polls until etcd stops answering; throws when it still answers after the timeout, or when `signal` aborts. */
async function waitStopped(deps: ServiceDeps, what: string, signal?: AbortSignal): Promise<void> {
  const timeout = deps.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const poll = deps.pollMs ?? DEFAULT_POLL_MS;
  // Count slept time instead of reading the clock, so a fake sleep in tests runs the loop instantly.
  for (let waited = 0; ; waited += poll) {
    if (signal?.aborted) throw new Error(`stopped waiting for etcd to stop (${String(signal.reason)})`);
    if (!(await deps.isServing())) return;
    if (waited >= timeout) {
      throw new Error(
        `etcd still serves on this node ${Math.round(timeout / 1000)} s after stopping ${what}; ` +
          'refusing to restore under a live etcd (is another supervisor restarting it, or is etcd-service pointing at the wrong thing?)',
      );
    }
    await (signal ? Promise.race([deps.sleep(poll), whenAborted(signal)]) : deps.sleep(poll));
  }
}

function quoteArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9@%+=:,./_-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function serviceControl(service: EtcdService, deps: ServiceDeps): ServiceControl {
  switch (service.kind) {
    case 'systemd':
      return systemdControl(service.unit, deps);
    case 'static-pod':
      return staticPodControl(service.manifest, deps);
    case 'commands':
      return commandsControl(service.stop, service.start, deps);
    case 'none':
      return noneControl(deps);
  }
}

function systemdControl(unit: string, deps: ServiceDeps): ServiceControl {
  const what = `systemd unit ${unit}`;
  return {
    describe: () => what,
    stop: (signal) =>
      inContext(`stopping ${what}`, async () => {
        deps.log.info(`Stopping ${what}`);
        await deps.run('systemctl', ['stop', unit]);
        await waitStopped(deps, what, signal);
      }),
    start: () =>
      inContext(`starting ${what}`, async () => {
        deps.log.info(`Starting ${what}`);
        await deps.run('systemctl', ['start', unit]);
      }),
    resume: () =>
      inContext(`starting ${what}`, async () => {
        deps.log.info(`Starting ${what} (a no-op if it runs)`);
        await deps.run('systemctl', ['start', unit]);
        return `started etcd (${what})`;
      }),
  };
}

function staticPodControl(manifest: string, deps: ServiceDeps): ServiceControl {
  const manifestsDir = path.dirname(manifest);
  // Outside the manifests dir: the kubelet would run any manifest it finds there.
  const heldDir = deps.heldDir ?? path.join(path.dirname(manifestsDir), 'etcd-dr-held');
  const held = path.join(heldDir, path.basename(manifest));
  const what = `static pod ${manifest}`;
  return {
    describe: () => `${what} (held in ${heldDir} while etcd is down)`,
    stop: (signal) =>
      inContext(`stopping ${what}`, async () => {
        if (!(await exists(manifest))) {
          const hint = (await exists(held))
            ? `; a held copy exists at ${held} (an earlier restore was interrupted?): check it and move it back to ${manifest} before retrying`
            : '';
          throw new Error(`no static pod manifest at ${manifest}${hint}`);
        }
        if (await exists(held)) {
          throw new Error(`a held manifest already exists at ${held}; compare it with ${manifest} and remove the stale one before retrying`);
        }
        await mkdir(heldDir, { recursive: true, mode: 0o700 });
        deps.log.info(`Moving ${manifest} to ${held} so the kubelet stops etcd`);
        await moveFile(manifest, held);
        try {
          await waitStopped(deps, what, signal);
        } catch (error) {
          throw new Error(`${messageOf(error)}; the manifest stays held at ${held} (move it back to ${manifest} to undo)`, { cause: error });
        }
      }),
    start: () =>
      inContext(`starting ${what}`, async () => {
        if (!(await exists(held))) throw new Error(`no held manifest at ${held} to move back to ${manifest}`);
        if (await exists(manifest)) {
          throw new Error(`${manifest} exists already (someone moved it back?); the held copy stays at ${held}`);
        }
        deps.log.info(`Moving ${held} back to ${manifest}; the kubelet will start etcd`);
        await moveFile(held, manifest);
      }),
    resume: () =>
      inContext(`starting ${what}`, async () => {
        const [isHeld, inPlace] = await Promise.all([exists(held), exists(manifest)]);
        if (isHeld && inPlace) throw new Error(`both ${manifest} and a held copy ${held} exist; compare them and remove the stale one`);
        if (inPlace) return `left etcd's manifest in place (${manifest}: it was never moved, or already moved back)`;
        if (!isHeld) throw new Error(`no static pod manifest at ${manifest} and none held at ${held}: etcd cannot be started from here`);
        deps.log.info(`Moving ${held} back to ${manifest}; the kubelet will start etcd`);
        await moveFile(held, manifest);
        return `started etcd (moved ${held} back to ${manifest})`;
      }),
  };
}

function commandsControl(stop: string[], start: string[], deps: ServiceDeps): ServiceControl {
  const run = async (argv: string[]): Promise<void> => {
    const [cmd, ...args] = argv;
    // parseEtcdService never yields an empty argv; this guards direct callers.
    if (cmd === undefined) throw new InputError('empty command');
    await deps.run(cmd, args);
  };
  return {
    describe: () => `commands (stop: ${quoteArgv(stop)}; start: ${quoteArgv(start)})`,
    stop: (signal) =>
      inContext(`stopping etcd with ${Inputs.StopCommand} ${quoteArgv(stop)}`, async () => {
        deps.log.info(`Stopping etcd: ${quoteArgv(stop)}`);
        await run(stop);
        await waitStopped(deps, `with ${Inputs.StopCommand}`, signal);
      }),
    start: () =>
      inContext(`starting etcd with ${Inputs.StartCommand} ${quoteArgv(start)}`, async () => {
        deps.log.info(`Starting etcd: ${quoteArgv(start)}`);
        await run(start);
      }),
    resume: () =>
      inContext(`starting etcd with ${Inputs.StartCommand} ${quoteArgv(start)}`, async () => {
        // A start-command need not be idempotent (a script launching etcd would start a second one).
        if (await deps.isServing().catch(() => false)) return 'left etcd running (it already answers on this node)';
        deps.log.info(`Starting etcd: ${quoteArgv(start)}`);
        await run(start);
        return `started etcd (${Inputs.StartCommand} ${quoteArgv(start)})`;
      }),
  };
}

function noneControl(deps: ServiceDeps): ServiceControl {
  return {
    describe: () => 'none (etcd is stopped and started by hand)',
    stop: async () => {
      deps.log.warning(`${Inputs.EtcdService} is none: etcd-dr does not stop etcd; make sure etcd is stopped on this node`);
      // Only a warning: with `none` the operator may be restoring into a different data dir on purpose.
      let serving = false;
      try {
        serving = await deps.isServing();
      } catch {
        // A failing probe says nothing either way; the warning above stands.
      }
      if (serving) deps.log.warning('etcd still answers on its client port on this node');
    },
    start: async () => {
      deps.log.warning(`${Inputs.EtcdService} is none: etcd-dr does not start etcd; start it yourself`);
    },
    resume: async () => `did not start etcd (${Inputs.EtcdService} is none): start it yourself`,
  };
}
