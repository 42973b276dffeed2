/**
 * The member flags of a restore, as `etcdutl snapshot restore` takes them, validated before anything
 * happens: pure, no I/O.
 */
import { isAbsolute, normalize } from 'node:path';
import { InputError } from '../errors.ts';

export interface MemberSpec {
  readonly name: string;
  readonly initialCluster: string;
  readonly initialAdvertisePeerUrls: string;
  readonly initialClusterToken: string;
}

const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const PEER_URL = /^https?:\/\/[^\s,/=]+(:\d{1,5})?\/?$/;

export function parseMemberSpec(input: {
  name: string;
  initialCluster?: string;
  initialAdvertisePeerUrls?: string;
  initialClusterToken?: string;
}): MemberSpec {
  const name = input.name.trim();
  if (!MEMBER_NAME.test(name)) throw new InputError(`member-name ${JSON.stringify(name)} is not a valid etcd member name`);
  const peerUrls = (input.initialAdvertisePeerUrls ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (peerUrls.length === 0) throw new InputError('initial-advertise-peer-urls is required (this member\'s peer URL, e.g. https://10.0.0.1:2380)');
  for (const url of peerUrls) {
    if (!PEER_URL.test(url)) throw new InputError(`initial-advertise-peer-urls: ${JSON.stringify(url)} is not a peer URL like https://10.0.0.1:2380`);
  }
  const cluster = (input.initialCluster ?? `${name}=${peerUrls.join(`,${name}=`)}`).trim();
  const members = new Map<string, string[]>();
  for (const part of cluster.split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    const member = part.slice(0, at);
    const url = part.slice(at + 1);
    if (at <= 0 || !MEMBER_NAME.test(member) || !PEER_URL.test(url)) {
      throw new InputError(`initial-cluster: ${JSON.stringify(part)} is not name=peer-url`);
    }
    members.set(member, [...(members.get(member) ?? []), url]);
  }
  const own = members.get(name);
  if (!own) throw new InputError(`initial-cluster does not list this member (${name}): ${cluster}`);
  for (const url of peerUrls) {
    if (!own.includes(url)) throw new InputError(`initial-cluster lists ${name} at ${own.join(', ')}, not at its advertised peer URL ${url}`);
  }
  const token = (input.initialClusterToken ?? '').trim();
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(token)) {
    throw new InputError('initial-cluster-token is required for a restore (use a new one, the same on every member, e.g. etcd-restored-<date>)');
  }
  return { name, initialCluster: cluster, initialAdvertisePeerUrls: peerUrls.join(','), initialClusterToken: token };
}

/** The data directory must be an absolute path, not `/`, and not under a path with `..`. */
export function assertDataDir(dataDir: string): string {
  const trimmed = dataDir.trim();
  if (!isAbsolute(trimmed) || normalize(trimmed) !== trimmed.replace(/\/+$/, '') || normalize(trimmed) === '/') {
    throw new InputError(`data-dir ${JSON.stringify(dataDir)} must be an absolute, normalised path like /var/lib/etcd`);
  }
  return normalize(trimmed);
}
