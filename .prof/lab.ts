// Persistent profiling lab: etcd 3.5 loaded to LAB_MIB, two sshd sites; writes /tmp/lab/env.sh; stays up.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { etcdBinaries, memberFlags, startMemberProcess } from '../test/harness/etcd.ts';
import { freePort } from '../test/harness/ports.ts';
import { makeClientKey, startSftpSite } from '../test/harness/sftp.ts';
import { Loader } from '../bench/load.ts';
const work = '/tmp/lab'; await mkdir(work, { recursive: true });
const clientKey = await makeClientKey(path.join(work, 'client'));
const sites = [await startSftpSite('lab-dc1', { clientKey }), await startSftpSite('lab-dc2', { clientKey })];
await writeFile(path.join(work, 'known_hosts'), sites.map((s) => s.knownHosts).join('\n') + '\n');
const identity = await generateX25519Identity();
await writeFile(path.join(work, 'identity.txt'), identity + '\n', { mode: 0o600 });
const binaries = etcdBinaries('3.5');
const clientUrl = `http://127.0.0.1:${await freePort()}`; const peerUrl = `http://127.0.0.1:${await freePort()}`;
const flags = memberFlags({ name: 'bench', dataDir: path.join(work, 'etcd.data'), clientUrl, peerUrl, initialCluster: `bench=${peerUrl}`, token: 'lab', state: 'new' });
await startMemberProcess(binaries, [...flags, '--quota-backend-bytes=4294967296'], { clientUrl, logFile: path.join(work, 'etcd.log') });
const loader = new Loader({ endpoints: [clientUrl], callTimeoutMs: 30_000 });
await loader.growTo(Number(process.env.LAB_MIB ?? 1024) * 1024 * 1024);
await writeFile(path.join(work, 'env.sh'), [
  `EP=${clientUrl}`, `S1=${sites[0]!.url}`, `S2=${sites[1]!.url}`, `KEY=${work}/client/id_ed25519`, `KH=${work}/known_hosts`,
  `RCPT=${await identityToRecipient(identity)}`, `IDF=${work}/identity.txt`, `ETCDUTL=${binaries.etcdutl ?? ''}`, `ETCDCTL=${binaries.etcdctl}`, ''].join('\n'));
console.log('LAB READY');
setInterval(() => {}, 1 << 30);
