import { createReadStream } from 'node:fs';
import { startSftpSite } from '../test/harness/sftp.ts';
import { openStores } from '../src/stores/index.ts';
import { execFileSync } from 'node:child_process';
const file = '/tmp/prof-obj.bin';
execFileSync('bash', ['-c', `[ -f ${file} ] || head -c 471000000 /dev/urandom > ${file}`]);
const site = await startSftpSite('prof');
try {
  const [store] = openStores(site.url, { sshPrivateKey: site.privateKey, sshKnownHosts: site.knownHosts });
  await store!.open();
  const mode = process.argv[2] ?? 'up';
  const cpu = process.cpuUsage(); const t = performance.now();
  if (mode === 'up') {
    const p = await store!.upload('c', 'x.bin', createReadStream(file, { highWaterMark: 1 << 20 }));
    await p.commit();
  }
  const u = process.cpuUsage(cpu);
  console.log(mode, ((performance.now() - t) / 1000).toFixed(2), 's cpu', ((u.user + u.system) / 1e6).toFixed(2));
  if (mode === 'up') {
    const t2 = performance.now(); const c2 = process.cpuUsage();
    const s = await store!.download('c', 'x.bin'); let n = 0; for await (const b of s) n += (b as Buffer).length;
    const u2 = process.cpuUsage(c2);
    console.log('down', ((performance.now() - t2) / 1000).toFixed(2), 's cpu', ((u2.user + u2.system) / 1e6).toFixed(2), n);
  }
  await store!.close();
} finally { await site.destroy(); }
