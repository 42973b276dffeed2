/**
 * Compares two etcd keyspaces key by key: value, create and mod revision, version and lease. The drill's
 * journal check uses it (a replayed journal against the next full backup), and so do the tests (a replay
 * against the source etcd at the same revision). Both sides are read in pages, in key order, and merged,
 * so memory stays flat whatever the keyspace's size.
 */
import type { Etcd3, IKeyValue } from 'etcd3';

export interface KeyspaceSide {
  readonly client: Etcd3;
  /** Read at this revision (undefined: the latest). */
  readonly revision?: number;
  /** For messages: "the replay", "backup X". */
  readonly name: string;
}

export interface KeyspaceComparison {
  /** Keys seen on either side. */
  readonly keys: number;
  /** Number of keys that differ. */
  readonly differences: number;
  /** The first few differences, described. */
  readonly examples: readonly string[];
}

const PAGE = 1000;
const EXAMPLES = 5;

/** Pages through every key (etcd's order: bytewise), at the side's revision. */
async function* keysOf(side: KeyspaceSide): AsyncGenerator<IKeyValue> {
  // '\0' as both key and range_end means every key; after a page, start just past its last key.
  let from = Buffer.from([0]);
  for (;;) {
    const response = await side.client.kv.range({
      key: from,
      range_end: Buffer.from([0]),
      limit: PAGE,
      serializable: true,
      ...(side.revision !== undefined ? { revision: side.revision } : {}),
    });
    for (const kv of response.kvs) yield kv;
    const last = response.kvs[response.kvs.length - 1];
    if (!response.more || !last) return;
    from = Buffer.concat([last.key, Buffer.from([0])]);
  }
}

function describe(kv: IKeyValue): string {
  const value = kv.value.length > 40 ? `${kv.value.subarray(0, 40).toString('utf8')}... (${kv.value.length} bytes)` : kv.value.toString('utf8');
  return `value ${JSON.stringify(value)}, create ${kv.create_revision}, mod ${kv.mod_revision}, version ${kv.version}, lease ${kv.lease}`;
}

function same(a: IKeyValue, b: IKeyValue): boolean {
  return (
    a.value.equals(b.value) &&
    a.create_revision === b.create_revision &&
    a.mod_revision === b.mod_revision &&
    a.version === b.version &&
    a.lease === b.lease
  );
}

export async function compareKeyspaces(left: KeyspaceSide, right: KeyspaceSide): Promise<KeyspaceComparison> {
  const a = keysOf(left);
  const b = keysOf(right);
  let x = await a.next();
  let y = await b.next();
  let keys = 0;
  let differences = 0;
  const examples: string[] = [];
  const differ = (text: string): void => {
    differences++;
    if (examples.length < EXAMPLES) examples.push(text);
  };
  while (!x.done || !y.done) {
    keys++;
    const order = x.done ? 1 : y.done ? -1 : Buffer.compare(x.value.key, y.value.key);
    if (order < 0 && !x.done) {
      differ(`${JSON.stringify(x.value.key.toString('utf8'))} is in ${left.name} only`);
      x = await a.next();
    } else if (order > 0 && !y.done) {
      differ(`${JSON.stringify(y.value.key.toString('utf8'))} is in ${right.name} only`);
      y = await b.next();
    } else if (!x.done && !y.done) {
      if (!same(x.value, y.value)) {
        differ(`${JSON.stringify(x.value.key.toString('utf8'))}: ${left.name} has ${describe(x.value)}; ${right.name} has ${describe(y.value)}`);
      }
      [x, y] = await Promise.all([a.next(), b.next()]);
    }
  }
  return { keys, differences, examples };
}
