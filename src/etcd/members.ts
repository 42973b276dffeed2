/**
 * Asks every member of the cluster for its status. Members are discovered from the member list of
 * any reachable endpoint, so a runner configured with only its local endpoint still finds the leader.
 */
import type { Etcd3 } from 'etcd3';
import { messageOf } from '../errors.ts';
import { connect, type EtcdAccess } from './connection.ts';

export interface MemberStatus {
  readonly endpoint: string;
  readonly reachable: true;
  readonly id: string;
  readonly name: string;
  readonly leaderId: string;
  readonly revision: number;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly version: string;
  readonly dbSize: number;
  readonly isLearner: boolean;
  readonly errors: readonly string[];
}

export interface UnreachableMember {
  readonly endpoint: string;
  readonly reachable: false;
  readonly name?: string;
  readonly error: string;
}

export type MemberProbe = MemberStatus | UnreachableMember;

/** Member ids arrive as decimal strings; etcdctl and logs show them in hex. */
export function memberIdHex(decimalId: string): string {
  return BigInt(decimalId).toString(16);
}

/** Status of one endpoint, through a client bound to it alone. */
export async function probeEndpoint(access: EtcdAccess, endpoint: string): Promise<MemberProbe> {
  const client = await connect(access, [endpoint]);
  try {
    const status = await client.maintenance.status();
    const members = await client.cluster.memberList({ linearizable: false }).catch(() => undefined);
    const id = status.header.member_id;
    const self = members?.members.find((m) => m.ID === id);
    return {
      endpoint,
      reachable: true,
      id: memberIdHex(id),
      name: self?.name ?? endpoint,
      leaderId: memberIdHex(status.leader),
      revision: Number(status.header.revision),
      raftTerm: Number(status.raftTerm),
      raftIndex: Number(status.raftIndex),
      version: status.version,
      dbSize: Number(status.dbSize),
      isLearner: Boolean(status.isLearner),
      errors: status.errors ?? [],
    };
  } catch (error) {
    return { endpoint, reachable: false, error: messageOf(error) };
  } finally {
    client.close();
  }
}

/** Client URLs of all members, from the first endpoint that answers; undefined if none does. */
async function discoverMembers(access: EtcdAccess): Promise<Array<{ name: string; clientUrls: string[] }> | undefined> {
  for (const endpoint of access.endpoints) {
    const client: Etcd3 = await connect(access, [endpoint]);
    try {
      const list = await client.cluster.memberList({ linearizable: false });
      return list.members.map((m) => ({ name: m.name, clientUrls: m.clientURLs ?? [] }));
    } catch {
      // Try the next endpoint; the probes below report each one's error.
    } finally {
      client.close();
    }
  }
  return undefined;
}

/**
 * Probes the configured endpoints plus every member's first client URL from the member list.
 * A member known from the list that does not answer is reported by name.
 */
export async function probeCluster(access: EtcdAccess): Promise<MemberProbe[]> {
  const discovered = (await discoverMembers(access)) ?? [];
  const endpoints = new Set(access.endpoints.map(normalize));
  const named = new Map<string, string>();
  // A member that never started has no client URL: it still counts against quorum, as unreachable.
  const unstarted: UnreachableMember[] = discovered
    .filter((m) => m.clientUrls.length === 0)
    .map((m) => ({ endpoint: '(no client URL)', reachable: false, name: m.name || '(unnamed)', error: 'the member has not started' }));
  for (const member of discovered) {
    const url = member.clientUrls[0];
    if (!url) continue;
    const known = member.clientUrls.map(normalize).find((u) => endpoints.has(u));
    const endpoint = known ?? normalize(url);
    endpoints.add(endpoint);
    named.set(endpoint, member.name);
  }
  const probes = await Promise.all([...endpoints].map((e) => probeEndpoint(access, e)));
  // Two URLs can reach the same member (e.g. 127.0.0.1 and the node IP): keep one probe per member id.
  const seen = new Set<string>();
  return [...probes, ...unstarted]
    .map((p) => (p.reachable ? p : { ...p, name: p.name ?? named.get(p.endpoint) ?? p.endpoint }))
    .filter((p) => {
      if (!p.reachable) return true;
      if (seen.has(p.id)) return false;
      seen.add(p.id);
      return true;
    });
}

function normalize(url: string): string {
  return url.replace(/\/+$/, '');
}
