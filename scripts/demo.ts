/**
 * The demo: a throwaway 3-member etcd 3.5 cluster on loopback and two SFTP "data centres" (real OpenSSH
 * on loopback, their own host keys), then the real CLI (dist/cli.js): backup to both sites, list, and a
 * restore drill. Everything lives in temp directories and is stopped at the end.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startCluster } from '../test/harness/etcd.ts';
import { makeClientKey, startSftpSite } from '../test/harness/sftp.ts';
import { REPO_ROOT } from '../test/harness/actionRunner.ts';

const work = await mkdtemp(path.join(os.tmpdir(), 'etcd-dr-demo-'));
const clientKey = await makeClientKey(work);
console.log('starting a 3-member etcd 3.5 cluster and two SFTP sites (dc1, dc2) on loopback...');
const [cluster, dc1, dc2] = await Promise.all([
  startCluster({ version: '3.5', name: 'demo' }),
  startSftpSite('dc1', { clientKey }),
  startSftpSite('dc2', { clientKey }),
]);
try {
  for (let i = 0; i < 200; i++) {
    await cluster.put(`/registry/configmaps/team-${i % 5}/settings-${i}`, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', data: { i } }));
  }
  await writeFile(path.join(work, 'id_ed25519'), clientKey.privateKey, { mode: 0o600 });
  await writeFile(path.join(work, 'known_hosts'), `${dc1.knownHosts}\n${dc2.knownHosts}\n`);
  const common = [
    '--cluster-name', 'demo',
    '--stores', dc1.url, '--stores', dc2.url,
    '--ssh-private-key-file', path.join(work, 'id_ed25519'),
    '--ssh-known-hosts-file', path.join(work, 'known_hosts'),
  ];
  const cli = (args: string[]): string => {
    console.log(`\n$ etcd-dr ${args.join(' ')}`);
    const out = execFileSync(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    console.log(out);
    return out;
  };
  cli(['backup', ...common, '--endpoints', cluster.endpoints.join(',')]);
  cli(['list', ...common]);
  cli(['verify', ...common, '--etcd-bin-dir', cluster.binaries.binDir]);
  for (const site of [dc1, dc2]) {
    console.log(`${site.name} (${site.url}) now holds:`);
    for (const file of await readdir(path.join(site.root, 'demo'))) console.log(`  ${path.join(site.root, 'demo', file)}`);
  }
} finally {
  // The work dir holds the demo's SSH private key: nothing of the demo stays behind.
  await Promise.all([cluster.stop(), dc1.destroy(), dc2.destroy(), rm(work, { recursive: true, force: true })]);
}
