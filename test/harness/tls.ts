import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './process.ts';

export interface TlsFiles {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

const OPENSSL = 'openssl';

/**
 * Create a CA, a server/peer certificate (serverAuth+clientAuth, because etcd
 * peers use the same cert both to serve and to dial each other) for
 * 127.0.0.1/localhost, and a client certificate, all in `dir`.
 */
export async function makeTls(dir: string): Promise<TlsFiles> {
  await mkdir(dir, { recursive: true });
  const p = (f: string): string => path.join(dir, f);
  const files: TlsFiles = {
    caFile: p('ca.crt'),
    serverCertFile: p('server.crt'),
    serverKeyFile: p('server.key'),
    clientCertFile: p('client.crt'),
    clientKeyFile: p('client.key'),
  };

  await run(OPENSSL, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', p('ca.key'), '-out', files.caFile, '-days', '3650',
    '-subj', '/CN=etcd-dr test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);

  const issue = async (name: string, cn: string, ext: string): Promise<void> => {
    const extFile = p(`${name}.ext`);
    await writeFile(extFile, ext);
    await run(OPENSSL, [
      'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`,
    ]);
    await run(OPENSSL, [
      'x509', '-req', '-in', p(`${name}.csr`), '-CA', files.caFile, '-CAkey', p('ca.key'),
      '-CAcreateserial', '-out', p(`${name}.crt`), '-days', '3650', '-extfile', extFile,
    ]);
  };

  // Sequential: both use -CAcreateserial on the same serial file.
  await issue(
    'server',
    'etcd-dr-test-server',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  // The CN is deliberately not an etcd user name: with auth enabled etcd maps
  // a client cert's CN to a user when no password is given, and a CN of
  // "root" would silently grant root without the password.
  await issue(
    'client',
    'etcd-dr-test-client',
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
      '',
    ].join('\n'),
  );
  return files;
}
