/**
 * Fills etcd with a Kubernetes-shaped keyspace until the database reaches a target size.
 *
 * Keys are `/registry/<resource>/<namespace>/<name>`; values are 0.5–20 KiB, either JSON manifests
 * (text that compresses several times over, like the objects the API server writes as JSON) or random
 * bytes (secrets encrypted at rest, large protobuf blobs: incompressible). A share of the keys is
 * written 2–4 times, as controllers update objects, so the database holds several revisions of them.
 *
 * Writes go through the project's own etcd client (src/etcd/connection.ts) as txns of up to
 * MAX_OPS puts / MAX_BATCH_BYTES, several writers at once, so a GiB loads in about a minute.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Etcd3, IRequestOp } from 'etcd3';
import { connect, type EtcdAccess } from '../src/etcd/connection.ts';

const KIB = 1024;
// etcd's defaults: --max-txn-ops=128, --max-request-bytes=1.5 MiB.
const MAX_OPS = 100;
const MAX_BATCH_BYTES = 1024 * KIB;
const WRITERS = 6;

type ValueKind = 'json' | 'random';

interface ResourceSpec {
  readonly resource: string;
  /** relative number of keys */
  readonly weight: number;
  readonly kind: ValueKind;
  readonly minBytes: number;
  readonly maxBytes: number;
  /** chance that a key of this resource is rewritten 1–3 more times (2–4 revisions in all) */
  readonly updateChance: number;
  /** for random values: what comes before the bytes (as the API server stores them) */
  readonly prefix?: string;
}

const RESOURCES: readonly ResourceSpec[] = [
  { resource: 'pods', weight: 30, kind: 'json', minBytes: 2 * KIB, maxBytes: 12 * KIB, updateChance: 0.6 },
  { resource: 'configmaps', weight: 12, kind: 'json', minBytes: 512, maxBytes: 20 * KIB, updateChance: 0.2 },
  { resource: 'secrets', weight: 24, kind: 'random', minBytes: 512, maxBytes: 12 * KIB, updateChance: 0.2, prefix: 'k8s:enc:aescbc:v1:key1:' },
  { resource: 'events', weight: 14, kind: 'json', minBytes: 512, maxBytes: 2 * KIB, updateChance: 0.3 },
  { resource: 'deployments', weight: 6, kind: 'json', minBytes: 3 * KIB, maxBytes: 10 * KIB, updateChance: 0.5 },
  { resource: 'replicasets', weight: 6, kind: 'json', minBytes: 2 * KIB, maxBytes: 8 * KIB, updateChance: 0.3 },
  { resource: 'controllerrevisions', weight: 10, kind: 'random', minBytes: 2 * KIB, maxBytes: 20 * KIB, updateChance: 0.1, prefix: 'k8s\u0000' },
  { resource: 'leases', weight: 10, kind: 'json', minBytes: 512, maxBytes: 768, updateChance: 0.9 },
];
const TOTAL_WEIGHT = RESOURCES.reduce((sum, r) => sum + r.weight, 0);

const WORDS = (
  'alpha beta gamma delta api server controller manager scheduler kubelet proxy node pod container image ' +
  'registry volume mount secret config map service account token cluster role binding namespace default ' +
  'kube system monitoring logging ingress nginx payments checkout orders users billing search catalog cart ' +
  'frontend backend worker cron batch job queue redis postgres kafka zookeeper elastic prometheus grafana ' +
  'loki tempo envoy istio linkerd cert manager external dns storage class persistent claim ready running ' +
  'pending succeeded failed true false enabled disabled timeout retry interval threshold replicas selector ' +
  'match labels template spec status metadata annotations owner reference managed fields apply update'
).split(' ');
const NAMESPACES = [
  'default', 'kube-system', 'kube-public', 'monitoring', 'logging', 'ingress-nginx', 'cert-manager',
  'payments-prod', 'payments-staging', 'checkout', 'orders', 'users', 'billing', 'search', 'catalog',
  'team-a', 'team-b', 'team-c', 'data-platform', 'ml-serving', 'ci-runners', 'istio-system', 'argocd',
];
const APPS = WORDS.filter((w) => w.length > 3);

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function between(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

function hex(chars: number): string {
  return randomBytes(Math.ceil(chars / 2)).toString('hex').slice(0, chars);
}

function pickResource(): ResourceSpec {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const spec of RESOURCES) {
    r -= spec.weight;
    if (r < 0) return spec;
  }
  return RESOURCES[0]!;
}

function words(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(pick(WORDS));
  return out.join(' ');
}

/** A JSON manifest of about `size` bytes, shaped like what the API server stores for `resource`. */
function manifest(resource: string, namespace: string, name: string, size: number, revision: number): Buffer {
  const app = name.split('-')[0] ?? 'app';
  const kind = resource === 'leases' ? 'Lease' : resource.charAt(0).toUpperCase() + resource.slice(1, -1);
  const head = {
    kind,
    apiVersion: resource === 'leases' ? 'coordination.k8s.io/v1' : resource.endsWith('sets') || resource === 'deployments' ? 'apps/v1' : 'v1',
    metadata: {
      name,
      namespace,
      uid: randomUUID(),
      resourceVersion: String(between(1_000_000, 90_000_000)),
      generation: revision,
      creationTimestamp: new Date(Date.now() - between(0, 90 * 86_400_000)).toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: { app, 'app.kubernetes.io/name': app, 'app.kubernetes.io/part-of': pick(APPS), 'pod-template-hash': hex(10) },
      annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString(), note: words(between(3, 12)) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-${hex(10)}`, uid: randomUUID(), controller: true }],
    },
  };
  let text = JSON.stringify(head);
  // The body grows until the target size: env vars and ports for workloads, file contents for config
  // maps, messages for events. Random words and ids make it compress like real manifests (3–6x).
  const parts: string[] = [];
  let length = text.length + 40;
  while (length < size) {
    let part: string;
    switch (resource) {
      case 'configmaps':
        part = JSON.stringify(`${pick(WORDS)}.${pick(WORDS)}: ${words(between(2, 8))} # ${hex(8)}\n`);
        break;
      case 'events':
        part = JSON.stringify({ reason: pick(['Pulled', 'Created', 'Started', 'Killing', 'BackOff', 'Scheduled']), message: words(between(4, 14)), count: between(1, 50) });
        break;
      default:
        part = JSON.stringify({
          name: `${pick(WORDS).toUpperCase()}_${pick(WORDS).toUpperCase()}`,
          value: Math.random() < 0.3 ? hex(between(16, 40)) : words(between(1, 5)),
        });
    }
    parts.push(part);
    length += part.length + 1;
  }
  const body =
    resource === 'configmaps'
      ? `"data":{"application.yaml":[${parts.join(',')}]}`
      : resource === 'events'
        ? `"series":[${parts.join(',')}]`
        : `"spec":{"containers":[{"name":"${app}","image":"registry.example.com/${namespace}/${app}:v${between(1, 9)}.${between(0, 30)}.${between(0, 99)}","env":[${parts.join(',')}]}]},"status":{"phase":"Running","podIP":"10.${between(0, 255)}.${between(0, 255)}.${between(1, 254)}"}`;
  text = `${text.slice(0, -1)},${body}}`;
  return Buffer.from(text);
}

function valueFor(spec: ResourceSpec, namespace: string, name: string, revision: number): Buffer {
  const size = between(spec.minBytes, spec.maxBytes);
  if (spec.kind === 'random') {
    const prefix = Buffer.from(spec.prefix ?? '');
    return Buffer.concat([prefix, randomBytes(Math.max(0, size - prefix.length))]);
  }
  return manifest(spec.resource, namespace, name, size, revision);
}

interface PendingUpdate {
  readonly key: string;
  readonly spec: ResourceSpec;
  readonly namespace: string;
  readonly name: string;
  revision: number;
  remaining: number;
}

export interface LoadStats {
  /** Distinct keys written so far. */
  keys: number;
  /** Puts (revisions) so far. */
  puts: number;
  /** Value bytes written, all revisions. */
  bytes: number;
  jsonBytes: number;
  randomBytes: number;
  /** Seconds spent writing. */
  seconds: number;
}

/**
 * Keeps the keyspace state (keys waiting for updates) between calls, so one cluster can be grown to
 * the first size, measured, then grown on to the next.
 */
export class Loader {
  private readonly pending: PendingUpdate[] = [];
  private serial = 0;
  readonly stats: LoadStats = { keys: 0, puts: 0, bytes: 0, jsonBytes: 0, randomBytes: 0, seconds: 0 };

  constructor(private readonly access: EtcdAccess) {}

  /** Writes until etcd's dbSize reaches `targetBytes`; returns the final dbSize. */
  async growTo(targetBytes: number, onProgress?: (dbSize: number) => void): Promise<number> {
    const client = await connect(this.access);
    const started = performance.now();
    try {
      let dbSize = await dbSizeOf(client);
      let done = dbSize >= targetBytes;
      let failure: unknown;
      const writer = async (): Promise<void> => {
        while (!done && failure === undefined) {
          try {
            await client.kv.txn({ success: this.nextBatch() });
          } catch (error) {
            failure ??= error;
          }
        }
      };
      const monitor = async (): Promise<void> => {
        let lastReport = 0;
        while (!done && failure === undefined) {
          await new Promise((r) => setTimeout(r, 250));
          dbSize = await dbSizeOf(client);
          if (dbSize >= targetBytes) done = true;
          if (onProgress && (done || performance.now() - lastReport > 10_000)) {
            lastReport = performance.now();
            onProgress(dbSize);
          }
        }
      };
      await Promise.all([monitor(), ...Array.from({ length: WRITERS }, () => writer())]);
      if (failure !== undefined) throw failure;
      // bbolt commits in the background (every 100 ms): read the size once everything settled.
      await new Promise((r) => setTimeout(r, 300));
      return await dbSizeOf(client);
    } finally {
      this.stats.seconds += (performance.now() - started) / 1000;
      client.close();
    }
  }

  /** Up to MAX_OPS puts, each key at most once (etcd refuses a txn that writes a key twice). */
  private nextBatch(): IRequestOp[] {
    const ops: IRequestOp[] = [];
    const seen = new Set<string>();
    let bytes = 0;
    while (ops.length < MAX_OPS && bytes < MAX_BATCH_BYTES - 24 * KIB) {
      let key: string;
      let value: Buffer;
      let spec: ResourceSpec;
      const index = this.pending.length > 0 && Math.random() < 0.45 ? Math.floor(Math.random() * this.pending.length) : -1;
      const update = index >= 0 ? this.pending[index] : undefined;
      if (update && !seen.has(update.key)) {
        update.revision++;
        update.remaining--;
        if (update.remaining <= 0) {
          this.pending[index] = this.pending[this.pending.length - 1]!;
          this.pending.pop();
        }
        ({ key, spec } = update);
        value = valueFor(spec, update.namespace, update.name, update.revision);
      } else {
        spec = pickResource();
        const namespace = pick(NAMESPACES);
        const app = pick(APPS);
        const name = `${app}-${hex(8)}-${(this.serial++).toString(36)}`;
        key = `/registry/${spec.resource}/${namespace}/${name}`;
        value = valueFor(spec, namespace, name, 1);
        this.stats.keys++;
        if (Math.random() < spec.updateChance) {
          this.pending.push({ key, spec, namespace, name, revision: 1, remaining: between(1, 3) });
        }
      }
      seen.add(key);
      ops.push({ request_put: { key: Buffer.from(key), value } });
      bytes += key.length + value.length;
      this.stats.puts++;
      this.stats.bytes += value.length;
      if (spec.kind === 'json') this.stats.jsonBytes += value.length;
      else this.stats.randomBytes += value.length;
    }
    return ops;
  }
}

async function dbSizeOf(client: Etcd3): Promise<number> {
  const status = await client.maintenance.status();
  return Number(status.dbSize);
}
