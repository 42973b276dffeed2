/**
 * etcd connection settings, resolved as etcdctl and kubeadm users expect: explicit setting, then the
 * ETCDCTL_* environment variable, then kubeadm's local endpoint and certificate paths.
 */
import { readFileSync } from 'node:fs';
import type { EtcdAccess } from '../etcd/connection.ts';
import { InputError, messageOf } from '../errors.ts';
import { Inputs } from './names.ts';
import { list, secretText, text, type SettingSource } from './source.ts';

export const KUBEADM_ENDPOINT = 'https://127.0.0.1:2379';
export const KUBEADM_CACERT = '/etc/kubernetes/pki/etcd/ca.crt';
export const KUBEADM_CERT = '/etc/kubernetes/pki/etcd/healthcheck-client.crt';
export const KUBEADM_KEY = '/etc/kubernetes/pki/etcd/healthcheck-client.key';

export function etcdAccess(source: SettingSource, callTimeoutMs = 10_000): EtcdAccess {
  const env = source.env;
  const endpoints = list(text(source, Inputs.Endpoints) ?? env['ETCDCTL_ENDPOINTS'] ?? KUBEADM_ENDPOINT);
  for (const endpoint of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) {
      throw new InputError(`endpoints: ${JSON.stringify(endpoint)} is not a client URL like https://10.0.0.1:2379`);
    }
  }
  if (endpoints.length === 0) throw new InputError('endpoints: no etcd endpoint given');
  const secure = endpoints.some((e) => e.startsWith('https://'));
  if (secure && endpoints.some((e) => e.startsWith('http://'))) {
    throw new InputError('endpoints: mixing http:// and https:// endpoints is not supported');
  }

  const explicitCa = text(source, Inputs.CaCert) ?? env['ETCDCTL_CACERT'];
  const explicitCert = text(source, Inputs.Cert) ?? env['ETCDCTL_CERT'];
  const explicitKey = text(source, Inputs.Key) ?? env['ETCDCTL_KEY'];
  const auth = credentials(source);
  const base = { endpoints, callTimeoutMs, ...(auth ? { auth } : {}) };
  if (!secure) return base;

  // kubeadm's paths are defaults only for https endpoints; a missing default file is an error too,
  // because silently connecting without a client certificate would fail later and less clearly.
  const ca = readPem(Inputs.CaCert, explicitCa ?? KUBEADM_CACERT);
  const certPath = explicitCert ?? (explicitKey ? undefined : KUBEADM_CERT);
  const keyPath = explicitKey ?? (explicitCert ? undefined : KUBEADM_KEY);
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new InputError('cert and key go together: give both or neither');
  }
  return {
    ...base,
    tls: {
      ca,
      ...(certPath ? { cert: readPem(Inputs.Cert, certPath) } : {}),
      ...(keyPath ? { key: readPem(Inputs.Key, keyPath) } : {}),
    },
  };
}

function credentials(source: SettingSource): { username: string; password: string } | undefined {
  const env = source.env;
  let username = text(source, Inputs.Username);
  let password = secretText(source, Inputs.Password);
  // etcdctl accepts ETCDCTL_USER=name:password or ETCDCTL_USER=name with ETCDCTL_PASSWORD.
  if (username === undefined && env['ETCDCTL_USER']) {
    const [user, ...rest] = env['ETCDCTL_USER'].split(':');
    username = user;
    if (rest.length > 0) password = rest.join(':');
  }
  password ??= env['ETCDCTL_PASSWORD'];
  if (password) source.secret(password);
  if (username === undefined && password === undefined) return undefined;
  if (!username || !password) throw new InputError('username and password go together: give both or neither');
  return { username, password };
}

function readPem(name: Inputs, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new InputError(`${name}: cannot read ${path}: ${messageOf(error)}`);
  }
}
