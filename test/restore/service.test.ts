import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InputError } from '../../src/errors.ts';
import { execRunner, parseEtcdService, serviceControl, type CommandRunner, type ServiceDeps } from '../../src/restore/service.ts';
import { recordingLog } from '../harness/engine.ts';
import { tempDir } from '../harness/tmp.ts';


function fakeRunner(): CommandRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const run = async (cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> => {
    calls.push([cmd, ...args]);
    return { stdout: '', stderr: '' };
  };
  return Object.assign(run, { calls });
}

/** Deps with an instant sleep that records how long it was asked to wait. */
function deps(overrides: Partial<ServiceDeps> & Pick<ServiceDeps, 'isServing'>): ServiceDeps & { slept: number[] } {
  const slept: number[] = [];
  return {
    run: fakeRunner(),
    log: recordingLog(),
    sleep: async (ms) => {
      slept.push(ms);
    },
    slept,
    ...overrides,
  };
}

const isInputError = (pattern: RegExp) => (e: unknown) => e instanceof InputError && pattern.test(e.message);

describe('parseEtcdService', () => {
  it('parses systemd, static-pod and none', () => {
    assert.deepEqual(parseEtcdService({ service: 'systemd:etcd.service' }), { kind: 'systemd', unit: 'etcd.service' });
    assert.deepEqual(parseEtcdService({ service: 'systemd:etcd@member-1' }), { kind: 'systemd', unit: 'etcd@member-1' });
    assert.deepEqual(parseEtcdService({ service: ' static-pod:/etc/kubernetes/manifests/etcd.yaml ' }), {
      kind: 'static-pod',
      manifest: '/etc/kubernetes/manifests/etcd.yaml',
    });
    assert.deepEqual(parseEtcdService({ service: 'none', stopCommand: '', startCommand: '' }), { kind: 'none' });
  });

  it('splits stop and start commands into argv', () => {
    assert.deepEqual(parseEtcdService({ stopCommand: `docker stop 'etcd node'`, startCommand: 'docker start etcd' }), {
      kind: 'commands',
      stop: ['docker', 'stop', 'etcd node'],
      start: ['docker', 'start', 'etcd'],
    });
  });

  it('requires a service (no dangerous default)', () => {
    assert.throws(() => parseEtcdService({}), isInputError(/etcd-service is required for a live restore/));
    assert.throws(() => parseEtcdService({ service: '  ' }), isInputError(/etcd-service is required/));
  });

  it('refuses bad values', () => {
    assert.throws(() => parseEtcdService({ service: 'systemd:' }), isInputError(/systemd unit "" is not valid/));
    assert.throws(() => parseEtcdService({ service: 'systemd:etcd;reboot' }), isInputError(/not valid/));
    assert.throws(() => parseEtcdService({ service: 'systemd:--now' }), isInputError(/not valid/));
    assert.throws(() => parseEtcdService({ service: 'static-pod:manifests/etcd.yaml' }), isInputError(/absolute manifest path/));
    assert.throws(() => parseEtcdService({ service: 'docker:etcd' }), isInputError(/"docker:etcd" is not valid: use systemd:<unit>/));
  });

  it('wants stop-command and start-command together, and not with etcd-service', () => {
    assert.throws(() => parseEtcdService({ stopCommand: 'a' }), isInputError(/go together: start-command is missing/));
    assert.throws(() => parseEtcdService({ startCommand: 'a' }), isInputError(/go together: stop-command is missing/));
    assert.throws(
      () => parseEtcdService({ service: 'none', stopCommand: 'a', startCommand: 'b' }),
      isInputError(/either etcd-service or stop-command \+ start-command/),
    );
  });

  it('refuses shell lines in commands, naming the input', () => {
    assert.throws(
      () => parseEtcdService({ stopCommand: 'systemctl stop etcd && sleep 5', startCommand: 'systemctl start etcd' }),
      isInputError(/^stop-command: shell operator "&&".*not a shell line/),
    );
  });
});

describe('serviceControl', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('etcd-dr-service-');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('systemd: runs systemctl stop/start with argv and waits until etcd stops serving', async () => {
    const run = fakeRunner();
    let probes = 0;
    // Serving for the first two probes after stop, as systemd takes a moment.
    const d = deps({ run, isServing: async () => ++probes <= 2 });
    const control = serviceControl({ kind: 'systemd', unit: 'etcd.service' }, d);
    assert.equal(control.describe(), 'systemd unit etcd.service');
    await control.stop();
    await control.start();
    assert.deepEqual(run.calls, [
      ['systemctl', 'stop', 'etcd.service'],
      ['systemctl', 'start', 'etcd.service'],
    ]);
    assert.equal(probes, 3);
    assert.deepEqual(d.slept, [1000, 1000]);
  });

  it('systemd: refuses to go on while etcd still serves after the timeout', async () => {
    const d = deps({ isServing: async () => true });
    await assert.rejects(
      serviceControl({ kind: 'systemd', unit: 'etcd' }, d).stop(),
      /stopping systemd unit etcd: etcd still serves on this node 120 s after stopping.*refusing to restore under a live etcd/,
    );
    assert.equal(d.slept.reduce((a, b) => a + b, 0), 120_000);
  });

  it('systemd: a failing systemctl is reported with context', async () => {
    const run: CommandRunner = async () => {
      throw new Error('systemctl stop etcd failed: exit 5\nUnit etcd.service not loaded.');
    };
    await assert.rejects(
      serviceControl({ kind: 'systemd', unit: 'etcd' }, deps({ run, isServing: async () => false })).stop(),
      /^Error: stopping systemd unit etcd: systemctl stop etcd failed: exit 5/,
    );
  });

  it('commands: runs real programs without a shell', async () => {
    const stopped = path.join(dir, 'stopped marker');
    const started = path.join(dir, 'started;marker');
    const service = parseEtcdService({
      stopCommand: `touch '${stopped}'`,
      startCommand: `touch "${started}"`,
    });
    const control = serviceControl(service, deps({ run: execRunner(), isServing: async () => !existsSync(stopped) }));
    assert.match(control.describe(), /^commands \(stop: touch '.*stopped marker'; start: touch '.*started;marker'\)$/);
    await control.stop();
    assert.ok(existsSync(stopped));
    assert.ok(!existsSync(started));
    await control.start();
    assert.ok(existsSync(started));
  });

  it('commands: a failing command fails the stop with its exit status', async () => {
    const control = serviceControl(
      { kind: 'commands', stop: ['false'], start: ['true'] },
      deps({ run: execRunner(), isServing: async () => false }),
    );
    await assert.rejects(control.stop(), /^Error: stopping etcd with stop-command false: false failed: Command failed: false/);
  });

  it('static-pod: holds the manifest outside the manifests dir until start', async () => {
    const kubernetes = path.join(dir, 'kubernetes');
    const manifests = path.join(kubernetes, 'manifests');
    await mkdir(manifests, { recursive: true });
    const manifest = path.join(manifests, 'etcd.yaml');
    await writeFile(manifest, 'kind: Pod\n');
    const held = path.join(kubernetes, 'etcd-dr-held', 'etcd.yaml');
    // The kubelet's view: the pod serves while its manifest is in the manifests dir, and takes 3 polls to die.
    let pollsSinceMoved = 0;
    const isServing = async (): Promise<boolean> => existsSync(manifest) || ++pollsSinceMoved < 3;
    const d = deps({ isServing });
    const control = serviceControl(parseEtcdService({ service: `static-pod:${manifest}` }), d);
    assert.equal(control.describe(), `static pod ${manifest} (held in ${path.dirname(held)} while etcd is down)`);

    await control.stop();
    assert.ok(!existsSync(manifest));
    assert.equal(await readFile(held, 'utf8'), 'kind: Pod\n');
    assert.equal((await stat(path.dirname(held))).mode & 0o777, 0o700);
    assert.deepEqual(d.slept, [1000, 1000]);

    await control.start();
    assert.equal(await readFile(manifest, 'utf8'), 'kind: Pod\n');
    assert.ok(!existsSync(held));
  });

  it('static-pod: refuses to stop without a manifest and to start without a held copy', async () => {
    const manifests = path.join(dir, 'empty', 'manifests');
    await mkdir(manifests, { recursive: true });
    const manifest = path.join(manifests, 'etcd.yaml');
    const control = serviceControl({ kind: 'static-pod', manifest }, deps({ isServing: async () => false }));
    await assert.rejects(control.stop(), (e: unknown) => e instanceof Error && e.message.includes(`no static pod manifest at ${manifest}`));
    await assert.rejects(
      control.start(),
      (e: unknown) => e instanceof Error && e.message.includes(`no held manifest at ${path.join(dir, 'empty', 'etcd-dr-held', 'etcd.yaml')}`),
    );
  });

  it('static-pod: when the kubelet does not stop etcd, says where the manifest is held', async () => {
    const manifests = path.join(dir, 'stuck', 'manifests');
    await mkdir(manifests, { recursive: true });
    const manifest = path.join(manifests, 'etcd.yaml');
    await writeFile(manifest, 'kind: Pod\n');
    const heldDir = path.join(dir, 'stuck-held');
    const control = serviceControl({ kind: 'static-pod', manifest }, deps({ isServing: async () => true, heldDir }));
    await assert.rejects(control.stop(), /etcd still serves.*the manifest stays held at .*stuck-held\/etcd\.yaml \(move it back to/);
    // A retry must not clobber the held copy.
    await writeFile(manifest, 'kind: Pod\n');
    await assert.rejects(control.stop(), /a held manifest already exists at/);
  });

  it('none: does nothing but warn', async () => {
    const run = fakeRunner();
    const log = recordingLog();
    const control = serviceControl({ kind: 'none' }, deps({ run, log, isServing: async () => true }));
    await control.stop();
    await control.start();
    assert.deepEqual(run.calls, []);
    assert.ok(log.lines.some((l) => l.startsWith('warning: etcd-service is none: etcd-dr does not stop etcd')));
    assert.ok(log.lines.includes('warning: etcd still answers on its client port on this node'));
  });
});
