/**
 * The action metadata and the workflows, checked as data: every action.yml runs a dist/ bundle on node24
 * and uses only the input and output names of src/config/names.ts (the root action declares all of them,
 * with the defaults the code uses); the workflows (this repository's CI and the examples for an operations
 * repository) grant explicit permissions, time out, keep backups and restores of a cluster apart, pass only inputs
 * the actions declare, and never paste user input or secrets into a shell script. test/unit/workflows.test.ts checks
 * the examples' topology, groups, keys and pins.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DEFAULT_RETENTION_POLICY } from '../../src/catalog/policy.ts';
import { parseRetentionPolicy, RETENTION_INPUTS } from '../../src/config/retention.ts';
import { KUBEADM_CACERT, KUBEADM_CERT, KUBEADM_ENDPOINT, KUBEADM_KEY } from '../../src/config/etcd.ts';
import { COMMANDS, Inputs, Outputs } from '../../src/config/names.ts';
import { DEFAULT_BUMP_REVISION, KUBEADM_DATA_DIR } from '../../src/config/restore.ts';
import { DEFAULT_ETCD_DOWNLOAD_URL } from '../../src/restore/etcdTools.ts';
import { DEFAULT_MAX_AGE_MS, parseMaxAge } from '../../src/notify/watchdog.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const INPUT_NAMES: readonly string[] = Object.values(Inputs);
const OUTPUT_NAMES: readonly string[] = Object.values(Outputs);

type Yaml = Record<string, unknown>;

function isMap(value: unknown): value is Yaml {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function map(value: unknown, what: string): Yaml {
  assert.ok(isMap(value), `${what} must be a mapping`);
  return value;
}

function readYaml(path: string): Yaml {
  return map(parse(readFileSync(path, 'utf8')), relative(ROOT, path));
}

interface ActionFile {
  /** Relative to the repository root. */
  readonly file: string;
  /** The command a wrapper fixes; undefined for the root action. */
  readonly command?: string;
  readonly doc: Yaml;
}

function actionFiles(): ActionFile[] {
  const files: ActionFile[] = [{ file: 'action.yml', doc: readYaml(join(ROOT, 'action.yml')) }];
  for (const entry of readdirSync(join(ROOT, 'actions'), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = join('actions', entry.name, 'action.yml');
    assert.ok(existsSync(join(ROOT, file)), `${file} is missing`);
    files.push({ file, command: entry.name, doc: readYaml(join(ROOT, file)) });
  }
  return files;
}

function inputsOf(action: ActionFile): Yaml {
  return map(action.doc['inputs'] ?? {}, `${action.file} inputs`);
}

function outputsOf(action: ActionFile): Yaml {
  return map(action.doc['outputs'] ?? {}, `${action.file} outputs`);
}

/** This repository's own workflows and the examples for an operations repository. */
function workflowFiles(): string[] {
  return [['.github', 'workflows'], ['examples', 'workflows']].flatMap((parts) =>
    readdirSync(join(ROOT, ...parts))
      .filter((name) => /\.ya?ml$/.test(name))
      .map((name) => join(...parts, name)),
  );
}

/** The local action a step's `uses:` stands for: `./actions/<command>` here, `owner/etcd-dr/actions/<command>@v1` in the examples. */
function localActionPath(uses: string): string | undefined {
  if (uses.startsWith('./')) return uses.replace(/\/$/, '');
  const released = /^[^/]+\/etcd-dr(\/actions\/[a-z-]+)?@v\d+$/.exec(uses);
  return released ? `.${released[1] ?? ''}` : undefined;
}

interface Step {
  readonly job: string;
  readonly index: number;
  readonly step: Yaml;
}

function jobsOf(workflow: Yaml, file: string): Array<[string, Yaml]> {
  return Object.entries(map(workflow['jobs'], `${file} jobs`)).map(([id, job]) => [id, map(job, `${file} job ${id}`)]);
}

function stepsOf(workflow: Yaml, file: string): Step[] {
  return jobsOf(workflow, file).flatMap(([job, body]) => {
    const steps = body['steps'];
    if (steps === undefined) return [];
    assert.ok(Array.isArray(steps), `${file} job ${job}: steps must be a list`);
    return steps.map((step: unknown, index) => ({ job, index, step: map(step, `${file} job ${job} step ${index}`) }));
  });
}

/** A concurrency setting as { group, cancel } whether written as a string or a mapping. */
function concurrencyOf(value: unknown): { group: string; cancel: unknown } | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return { group: value, cancel: false };
  const body = map(value, 'concurrency');
  assert.equal(typeof body['group'], 'string', 'concurrency.group must be a string');
  return { group: body['group'] as string, cancel: body['cancel-in-progress'] ?? false };
}

/** The literal part of a group name before its first expression: `etcd-dr-${{ matrix.cluster }}` -> `etcd-dr-`. */
function groupPrefix(group: string): string {
  const at = group.indexOf('${{');
  return at === -1 ? group : group.slice(0, at);
}

const ACTIONS = actionFiles();
const ROOT_ACTION = ACTIONS.find((a) => a.command === undefined)!;
const WORKFLOWS = workflowFiles().map((file) => ({ file, doc: readYaml(join(ROOT, file)) }));

describe('action metadata', () => {
  it('has a wrapper for every command and no other', () => {
    const wrappers = ACTIONS.flatMap((a) => (a.command ? [a.command] : [])).sort();
    assert.deepEqual(wrappers, [...COMMANDS].sort());
  });

  it('runs every action on node24 from a bundle under dist/', () => {
    for (const action of ACTIONS) {
      const runs = map(action.doc['runs'], `${action.file} runs`);
      assert.equal(runs['using'], 'node24', `${action.file}: runs.using`);
      const main = runs['main'];
      assert.equal(typeof main, 'string', `${action.file}: runs.main`);
      const bundle = resolve(ROOT, dirname(action.file), main as string);
      if (action.command === undefined) {
        assert.equal(main, 'dist/main.js', `${action.file}: runs.main`);
      } else {
        // Relative to the wrapper's folder, as github/codeql-action's sub-actions do.
        assert.equal(main, `../../dist/${action.command}.js`, `${action.file}: runs.main`);
      }
      assert.match(relative(ROOT, bundle).split('\\').join('/'), /^dist\/[a-z]+(-[a-z]+)*\.js$/, `${action.file}: main must be a dist/ bundle`);
      assert.ok(existsSync(bundle), `${action.file}: ${main as string} is not built`);
      assert.equal(runs['pre'], undefined, `${action.file}: no pre step`);
    }
  });

  it('names, describes and brands every action', () => {
    for (const action of ACTIONS) {
      assert.equal(typeof action.doc['name'], 'string', `${action.file}: name`);
      assert.ok(String(action.doc['description'] ?? '').length > 20, `${action.file}: description`);
    }
    const branding = map(ROOT_ACTION.doc['branding'], 'action.yml branding');
    assert.equal(typeof branding['icon'], 'string');
    assert.equal(typeof branding['color'], 'string');
  });

  it('uses only the input and output names of src/config/names.ts, each described', () => {
    for (const action of ACTIONS) {
      for (const [name, spec] of Object.entries(inputsOf(action))) {
        assert.ok(INPUT_NAMES.includes(name), `${action.file}: input ${name} is not in the Inputs enum`);
        const body = map(spec, `${action.file} input ${name}`);
        assert.ok(typeof body['description'] === 'string' && body['description'].length > 10, `${action.file}: input ${name} needs a description`);
        if (body['default'] !== undefined) {
          assert.equal(typeof body['default'], 'string', `${action.file}: input ${name}: quote the default (inputs are strings)`);
        }
      }
      for (const [name, spec] of Object.entries(outputsOf(action))) {
        assert.ok(OUTPUT_NAMES.includes(name), `${action.file}: output ${name} is not in the Outputs enum`);
        const body = map(spec, `${action.file} output ${name}`);
        assert.ok(typeof body['description'] === 'string' && body['description'].length > 10, `${action.file}: output ${name} needs a description`);
      }
    }
  });

  it('declares every input and output in the root action.yml', () => {
    assert.deepEqual(Object.keys(inputsOf(ROOT_ACTION)).sort(), [...INPUT_NAMES].sort());
    assert.deepEqual(Object.keys(outputsOf(ROOT_ACTION)).sort(), [...OUTPUT_NAMES].sort());
  });

  it('lets the root action choose the command, backup by default', () => {
    const command = map(inputsOf(ROOT_ACTION)[Inputs.Command], 'command input');
    assert.equal(command['default'], 'backup');
    for (const name of COMMANDS) assert.match(String(command['description']), new RegExp(`\\b${name}\\b`));
  });

  it('leaves the command out of the wrappers, which fix it', () => {
    for (const action of ACTIONS.filter((a) => a.command !== undefined)) {
      assert.equal(inputsOf(action)[Inputs.Command], undefined, `${action.file}: must not take command`);
    }
  });

  it('gives the wrappers the same defaults as the root action', () => {
    const root = inputsOf(ROOT_ACTION);
    for (const action of ACTIONS.filter((a) => a.command !== undefined)) {
      for (const [name, spec] of Object.entries(inputsOf(action))) {
        assert.ok(name in root, `${action.file}: input ${name} is not declared by the root action.yml`);
        const mine = map(spec, name)['default'] ?? '';
        const theirs = map(root[name], name)['default'] ?? '';
        assert.equal(mine, theirs, `${action.file}: default of ${name}`);
      }
    }
  });

  it('gives each wrapper what its command needs', () => {
    const needs: Record<string, { inputs: string[]; outputs: string[] }> = {
      backup: {
        inputs: [Inputs.Stores, Inputs.SshPrivateKey, Inputs.SshKnownHosts, Inputs.Endpoints, Inputs.CaCert, Inputs.Cert, Inputs.Key, Inputs.Compression, Inputs.EncryptTo, Inputs.KeepWithin, Inputs.KeepLast, Inputs.Prune, Inputs.Heal, Inputs.GithubToken, Inputs.LockTtl],
        outputs: [Outputs.BackupName, Outputs.Revision, Outputs.Size, Outputs.Sha256, Outputs.Status, Outputs.StoresOk],
      },
      restore: {
        inputs: [Inputs.Backup, Inputs.Stores, Inputs.DecryptIdentity, Inputs.Confirm, Inputs.DryRun, Inputs.DataDir, Inputs.MemberName, Inputs.InitialCluster, Inputs.InitialAdvertisePeerUrls, Inputs.InitialClusterToken, Inputs.EtcdService, Inputs.BumpRevision, Inputs.MarkCompacted, Inputs.Endpoints],
        outputs: [Outputs.BackupName, Outputs.MovedAside],
      },
      verify: {
        inputs: [Inputs.Backup, Inputs.Stores, Inputs.DecryptIdentity, Inputs.EtcdBinDir, Inputs.EtcdVersion, Inputs.EtcdDownloadUrl],
        outputs: [Outputs.BackupName, Outputs.Revision, Outputs.Keys, Outputs.RestoreSeconds],
      },
      list: { inputs: [Inputs.Stores, Inputs.ClusterName], outputs: [Outputs.Backups] },
      prune: { inputs: [Inputs.Stores, Inputs.KeepWithin, Inputs.PruneDryRun], outputs: [Outputs.Pruned] },
      watchdog: { inputs: [Inputs.Stores, Inputs.MaxAge, Inputs.GithubToken], outputs: [Outputs.Status, Outputs.BackupName] },
      journal: {
        inputs: [Inputs.Stores, Inputs.SshPrivateKey, Inputs.SshKnownHosts, Inputs.Endpoints, Inputs.CaCert, Inputs.Cert, Inputs.Key, Inputs.EncryptTo, Inputs.JournalFlush, Inputs.JournalMaxRuntime, Inputs.JournalLockTtl, Inputs.GithubToken],
        outputs: [Outputs.Status, Outputs.Revision],
      },
      'check-cluster': {
        inputs: [Inputs.Endpoints, Inputs.CaCert, Inputs.Cert, Inputs.Key, Inputs.Username, Inputs.Password, Inputs.ExpectKeys, Inputs.ExpectRevisionAtLeast],
        outputs: [Outputs.Status],
      },
    };
    assert.deepEqual(Object.keys(needs).sort(), [...COMMANDS].sort(), 'needs lists every command');
    for (const action of ACTIONS.filter((a) => a.command !== undefined)) {
      const need = needs[action.command!];
      assert.ok(need, `${action.file}: no entry in needs`);
      for (const name of need.inputs) assert.ok(name in inputsOf(action), `${action.file}: needs input ${name}`);
      for (const name of need.outputs) assert.ok(name in outputsOf(action), `${action.file}: needs output ${name}`);
    }
    // The drill never touches the live cluster: no etcd connection, no restore controls.
    const verify = inputsOf(ACTIONS.find((a) => a.command === 'verify')!);
    for (const name of [Inputs.Endpoints, Inputs.Confirm, Inputs.DataDir, Inputs.StopCommand, Inputs.EtcdService]) {
      assert.equal(verify[name], undefined, `actions/verify must not take ${name}`);
    }
    // The cluster check needs etcd only: no stores, no backup.
    const check = inputsOf(ACTIONS.find((a) => a.command === 'check-cluster')!);
    for (const name of [Inputs.Stores, Inputs.Backup, Inputs.ClusterName]) {
      assert.equal(check[name], undefined, `actions/check-cluster must not take ${name}`);
    }
    // A restore names its backup: the wrapper gives it no default (not even `latest`).
    const restoreBackup = map(inputsOf(ACTIONS.find((a) => a.command === 'restore')!)[Inputs.Backup], 'restore backup');
    assert.equal(restoreBackup['required'], true, 'actions/restore: backup is required');
    assert.equal(restoreBackup['default'] ?? '', '', 'actions/restore: backup has no default');
  });

  it('has the defaults the code has', () => {
    const defaults = Object.fromEntries(
      Object.entries(inputsOf(ROOT_ACTION)).map(([name, spec]) => [name, String(map(spec, name)['default'] ?? '')]),
    );
    // Retention: the action's defaults parse to the code's default policy.
    const retention = Object.fromEntries(RETENTION_INPUTS.map((name) => [name, defaults[name]]));
    assert.deepEqual(parseRetentionPolicy(retention), DEFAULT_RETENTION_POLICY);
    assert.equal(parseMaxAge(defaults[Inputs.MaxAge]), DEFAULT_MAX_AGE_MS);
    assert.equal(defaults[Inputs.ClusterName], 'etcd');
    assert.equal(defaults[Inputs.Compression], 'zstd');
    // Empty: verify takes `latest`, restore refuses (it must be told which backup).
    assert.equal(defaults[Inputs.Backup], '');
    assert.equal(defaults[Inputs.LockTtl], '60');
    assert.equal(defaults[Inputs.BumpRevision], String(DEFAULT_BUMP_REVISION));
    assert.equal(defaults[Inputs.DataDir], KUBEADM_DATA_DIR);
    assert.equal(defaults[Inputs.EtcdDownloadUrl], DEFAULT_ETCD_DOWNLOAD_URL);
    // Derived or refused by the code when empty: a default here would hide that.
    for (const name of [Inputs.EtcdService, Inputs.InitialClusterToken, Inputs.InitialCluster, Inputs.InitialAdvertisePeerUrls, Inputs.MemberName, Inputs.Confirm, Inputs.ExpectKeys, Inputs.ExpectRevisionAtLeast]) {
      assert.equal(defaults[name], '', `${name} must default to empty`);
    }
    assert.equal(defaults[Inputs.IssueLabels], 'etcd-backup');
    assert.equal(defaults[Inputs.GithubToken], '${{ github.token }}');
    for (const name of [Inputs.Prune, Inputs.Heal, Inputs.MarkCompacted, Inputs.OpenIssueOnFailure]) assert.equal(defaults[name], 'true', name);
    for (const name of [Inputs.DryRun, Inputs.PruneDryRun]) assert.equal(defaults[name], 'false', name);
  });

  it('leaves the etcd connection empty so ETCDCTL_* can win, and names the kubeadm fallbacks', () => {
    const inputs = inputsOf(ROOT_ACTION);
    const fallbacks: Array<[Inputs, string, string]> = [
      [Inputs.Endpoints, 'ETCDCTL_ENDPOINTS', KUBEADM_ENDPOINT],
      [Inputs.CaCert, 'ETCDCTL_CACERT', KUBEADM_CACERT],
      [Inputs.Cert, 'ETCDCTL_CERT', KUBEADM_CERT],
      [Inputs.Key, 'ETCDCTL_KEY', KUBEADM_KEY],
    ];
    for (const action of ACTIONS) {
      for (const [name] of fallbacks) {
        const spec = inputsOf(action)[name];
        if (spec !== undefined) assert.equal(map(spec, name)['default'] ?? '', '', `${action.file}: ${name} must default to empty`);
      }
    }
    for (const [name, env, kubeadm] of fallbacks) {
      const description = String(map(inputs[name], name)['description']);
      assert.ok(description.includes(env), `${name}: description must name ${env}`);
      assert.ok(description.includes(kubeadm), `${name}: description must name ${kubeadm}`);
    }
  });
});

describe('workflows', () => {
  it('exist: ci in this repository; backup, restore, verify, watchdog, prune and list as examples', () => {
    const files = WORKFLOWS.map((w) => w.file.split('\\').join('/'));
    assert.ok(files.includes('.github/workflows/ci.yml'), '.github/workflows/ci.yml is missing');
    for (const name of ['etcd-backup.yml', 'etcd-restore.yml', 'etcd-verify.yml', 'etcd-watchdog.yml', 'etcd-prune.yml', 'etcd-list.yml']) {
      assert.ok(files.includes(`examples/workflows/${name}`), `examples/workflows/${name} is missing`);
      assert.ok(!files.includes(`.github/workflows/${name}`), `.github/workflows/${name}: self-hosted workflows live in examples/`);
    }
  });

  it('set permissions explicitly at the top and time out every job', () => {
    for (const { file, doc } of WORKFLOWS) {
      assert.ok('permissions' in doc, `${file}: top-level permissions must be explicit`);
      assert.notEqual(doc['permissions'], 'write-all', `${file}: no write-all`);
      for (const [id, job] of jobsOf(doc, file)) {
        const timeout = job['timeout-minutes'];
        assert.ok(typeof timeout === 'number' && timeout > 0 && timeout <= 120, `${file}: job ${id} needs timeout-minutes (1-120)`);
        assert.notEqual(job['permissions'], 'write-all', `${file}: job ${id}: no write-all`);
      }
    }
  });

  it('never interpolates workflow inputs, event inputs or secrets into a run: script', () => {
    const unsafe = /\$\{\{\s*(inputs\.|github\.event\.inputs|secrets\.|github\.event\.(issue|pull_request|comment|head_commit)|github\.head_ref)/;
    for (const { file, doc } of WORKFLOWS) {
      for (const { job, index, step } of stepsOf(doc, file)) {
        const run = step['run'];
        if (typeof run !== 'string') continue;
        assert.doesNotMatch(run, unsafe, `${file} job ${job} step ${index}: pass user input and secrets through env:, not into the script`);
      }
    }
  });

  it('passes only inputs that the action declares (local or released)', () => {
    const byPath = new Map(ACTIONS.map((a) => [a.command === undefined ? '.' : `./actions/${a.command}`, a]));
    let checked = 0;
    for (const { file, doc } of WORKFLOWS) {
      for (const { job, index, step } of stepsOf(doc, file)) {
        const uses = step['uses'];
        const path = typeof uses === 'string' ? localActionPath(uses) : undefined;
        if (path === undefined) continue;
        checked += 1;
        const action = byPath.get(path);
        assert.ok(action, `${file} job ${job} step ${index}: ${uses} is not an action of this repository`);
        for (const name of Object.keys(map(step['with'] ?? {}, 'with'))) {
          assert.ok(name in inputsOf(action), `${file} job ${job} step ${index}: ${uses} has no input ${name}`);
        }
      }
    }
    assert.ok(checked >= 10, 'the workflows use the actions');
  });

  it('set no NODE_OPTIONS anywhere: the actions keep their own memory bounds, with no env from the caller', () => {
    for (const { file, doc } of WORKFLOWS) {
      const envs: Array<[string, unknown]> = [[`${file}`, doc['env']]];
      for (const [id, job] of jobsOf(doc, file)) envs.push([`${file} job ${id}`, job['env']]);
      for (const { job, index, step } of stepsOf(doc, file)) envs.push([`${file} job ${job} step ${index}`, step['env']]);
      for (const [where, env] of envs) {
        if (env === undefined) continue;
        assert.equal(map(env, `${where} env`)['NODE_OPTIONS'], undefined, `${where}: NODE_OPTIONS`);
      }
      assert.doesNotMatch(readFileSync(join(ROOT, file), 'utf8'), /NODE_OPTIONS|max-semi-space-size/, `${file} mentions NODE_OPTIONS`);
    }
  });

  it('checks out without persisting credentials', () => {
    for (const { file, doc } of WORKFLOWS) {
      for (const { job, index, step } of stepsOf(doc, file)) {
        if (typeof step['uses'] !== 'string' || !step['uses'].startsWith('actions/checkout@')) continue;
        const options = map(step['with'] ?? {}, 'with');
        assert.equal(options['persist-credentials'], false, `${file} job ${job} step ${index}: persist-credentials: false`);
      }
    }
  });

  it('keeps backups and real restores of a cluster apart with one never-cancelling concurrency group', () => {
    const backup = WORKFLOWS.find((w) => w.file.endsWith('etcd-backup.yml'))!;
    const restore = WORKFLOWS.find((w) => w.file.endsWith('etcd-restore.yml'))!;

    const backupJob = jobsOf(backup.doc, backup.file).find(([id]) => id === 'backup');
    assert.ok(backupJob, `${backup.file}: job backup`);
    const backupGroup = concurrencyOf(backupJob[1]['concurrency']);
    assert.ok(backupGroup, `${backup.file}: the backup job needs a concurrency group`);
    assert.equal(backupGroup.cancel, false, `${backup.file}: must not cancel a running backup`);
    assert.match(backupGroup.group, /^etcd-dr-\$\{\{\s*matrix\.name\s*\}\}$/);

    // The restore holds the group for the whole run (workflow level), so its members restore together; a real
    // restore's group is the backup's with the cluster from the form, a dry run's is another.
    const restoreGroup = concurrencyOf(restore.doc['concurrency']);
    assert.ok(restoreGroup, `${restore.file}: needs a workflow-level concurrency group`);
    assert.equal(restoreGroup.cancel, false, `${restore.file}: must not cancel a running backup or restore`);
    const real = /\|\|\s*format\('([^']*)\{0\}',\s*inputs\.cluster\)\s*\}\}$/.exec(restoreGroup.group);
    assert.ok(real, `${restore.file}: the real restore's group is the last branch: ${restoreGroup.group}`);
    assert.equal(real[1], groupPrefix(backupGroup.group), 'backup and real restore share the group');
  });

  it('restores one resolved backup on every member, behind the etcd-restore environment', () => {
    const restore = WORKFLOWS.find((w) => w.file.endsWith('etcd-restore.yml'))!;
    const jobs = new Map(jobsOf(restore.doc, restore.file));
    const job = jobs.get('restore');
    assert.ok(job, 'etcd-restore.yml: job restore');
    // The environment for real restores; a dry run names none (test/unit/workflows.test.ts).
    assert.match(String(job['environment']), /'etcd-restore'/);
    const needs = ([] as unknown[]).concat(job['needs']);
    assert.ok(needs.includes('prepare'), 'restore needs prepare');
    const step = stepsOf(restore.doc, restore.file).find((s) => s.job === 'restore' && localActionPath(String(s.step['uses'])) === './actions/restore');
    assert.ok(step, 'the restore job uses actions/restore');
    const options = map(step.step['with'], 'with');
    assert.match(String(options[Inputs.Backup]), /needs\.prepare\.outputs\./, 'backup must be the name prepare resolved');
    // One cluster token for all members: either the default (derived from the backup name, the same
    // for every member) or an explicit one that does not differ per member.
    if (options[Inputs.InitialClusterToken] !== undefined) {
      assert.doesNotMatch(String(options[Inputs.InitialClusterToken]), /matrix\./, 'the token must not differ per member');
    }
    for (const name of [Inputs.EtcdService, Inputs.MemberName, Inputs.InitialAdvertisePeerUrls, Inputs.InitialCluster, Inputs.DataDir, Inputs.Confirm, Inputs.DecryptIdentity]) {
      assert.ok(name in options, `the restore step must pass ${name}`);
    }
    assert.match(String(options[Inputs.MemberName]), /matrix\./, 'member-name is per member');
    assert.match(String(options[Inputs.InitialAdvertisePeerUrls]), /matrix\./, 'initial-advertise-peer-urls is per member');
    assert.doesNotMatch(String(options[Inputs.InitialCluster]), /matrix\./, 'initial-cluster is the same on every member');

    // The check runs after every member, through the check-cluster action, against what prepare drilled.
    const check = jobs.get('check');
    assert.ok(check, 'etcd-restore.yml: job check');
    assert.ok(([] as unknown[]).concat(check['needs']).includes('restore'), 'check needs restore');
    const checkStep = stepsOf(restore.doc, restore.file).find((s) => s.job === 'check' && localActionPath(String(s.step['uses'])) === './actions/check-cluster');
    assert.ok(checkStep, 'the check job uses actions/check-cluster');
    const checkWith = map(checkStep.step['with'], 'with');
    assert.match(String(checkWith[Inputs.ExpectKeys]), /needs\.prepare\.outputs\./, 'expect-keys from prepare');
    assert.match(String(checkWith[Inputs.ExpectRevisionAtLeast]), /needs\.prepare\.outputs\./, 'expect-revision-at-least from prepare');
    const dispatch = map(map(restore.doc['on'], 'on')['workflow_dispatch'], 'workflow_dispatch');
    const inputs = map(dispatch['inputs'], 'workflow_dispatch inputs');
    const dryRun = map(inputs[Inputs.DryRun], 'dry-run');
    assert.equal(dryRun['type'], 'boolean');
    assert.equal(dryRun['default'], true, 'dry-run by default');
    for (const name of ['backup', 'cluster', 'confirm']) assert.ok(name in inputs, `restore form needs ${name}`);
  });
});

describe('README', () => {
  it('documents every input and output of action.yml as scripts/readme-inputs.mjs prints them', async () => {
    const root = new URL('../../', import.meta.url);
    const generated = execFileSync(process.execPath, [new URL('scripts/readme-inputs.mjs', root).pathname], { encoding: 'utf8' }).trim();
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const documented = /<!-- inputs:start -->\n([\s\S]*?)\n<!-- inputs:end -->/.exec(readme)?.[1]?.trim();
    assert.equal(documented, generated, 'README is stale: run node scripts/readme-inputs.mjs and paste its output');
  });
});
