/**
 * Host key pinning against OpenSSH known_hosts text (the `ssh-known-hosts` input), so an SFTP store only
 * talks to the server the operator pinned. Implements the subset of sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"
 * that matters for pinning: host patterns (with `*`, `?` and `!` negation), comma lists, `[host]:port`,
 * hashed `|1|salt|hmac` entries and `@revoked`. `@cert-authority` lines are skipped: host certificates are
 * not supported, so such a line can neither accept nor reject a key.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type HostKeyCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'unknown-host' | 'key-mismatch' | 'revoked' };

/** A host key was refused. Not transient: retrying cannot help, so retry.ts never retries it. */
export class HostKeyError extends Error {
  override readonly name = 'HostKeyError';
}

export interface KnownHostEntry {
  readonly marker: 'revoked' | undefined;
  /** The comma-separated host field, or one hashed `|1|salt|hash` item. */
  readonly hosts: string;
  readonly keyType: string;
  /** The raw SSH wire-format public key blob (base64-decoded). */
  readonly key: Buffer;
}

/** Parses known_hosts text, skipping comments, blank lines, `@cert-authority` lines and malformed lines. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      if (fields[0] !== '@revoked') continue; // @cert-authority or an unknown marker
      marker = 'revoked';
      fields.shift();
    }
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(keyBase64)) continue;
    const key = Buffer.from(keyBase64, 'base64');
    if (key.length === 0) continue;
    entries.push({ marker, hosts, keyType, key });
  }
  return entries;
}

/** The name OpenSSH looks hosts up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether an entry's host field applies to `name` (a knownHostsName). */
export function entryMatchesHost(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) return hashedMatches(hosts, name);
  let matched = false;
  for (const pattern of hosts.split(',')) {
    if (pattern === '') continue;
    const negated = pattern.startsWith('!');
    if (wildcardMatches(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false; // a matching negation overrides every positive match on the line
      matched = true;
    }
  }
  return matched;
}

/**
 * Checks the key a server presented against known_hosts. A revoked key is refused even if another line
 * accepts it; otherwise the key must equal one listed for this host. `key-mismatch` means the host is
 * known with other keys (possible man-in-the-middle, or a rebuilt server), `unknown-host` that it is not
 * listed at all: both are refusals, never trust-on-first-use.
 */
export function hostKeyMatches(knownHosts: string, host: string, port: number, presentedKey: Buffer): HostKeyCheck {
  const name = knownHostsName(host.toLowerCase(), port);
  const entries = parseKnownHosts(knownHosts).filter((e) => entryMatchesHost(e.hosts, name));
  if (entries.some((e) => e.marker === 'revoked' && sameKey(e.key, presentedKey))) {
    return { ok: false, reason: 'revoked' };
  }
  const accepting = entries.filter((e) => e.marker === undefined);
  if (accepting.some((e) => sameKey(e.key, presentedKey))) return { ok: true };
  return { ok: false, reason: accepting.length > 0 ? 'key-mismatch' : 'unknown-host' };
}

/** Key types (e.g. `ssh-ed25519`) pinned for a host, so the client can ask the server for exactly those. */
export function pinnedKeyTypes(knownHosts: string, host: string, port: number): string[] {
  const name = knownHostsName(host.toLowerCase(), port);
  const types = parseKnownHosts(knownHosts)
    .filter((e) => e.marker === undefined && entryMatchesHost(e.hosts, name))
    .map((e) => e.keyType);
  return [...new Set(types)];
}

/** `SHA256:<base64 without padding>`, exactly as `ssh-keygen -lf` prints it. */
export function fingerprintSha256(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type written inside a wire-format blob (`ssh-ed25519`, ...), for error messages. */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || key.length < 4 + length) return 'unknown';
  return key.subarray(4, 4 + length).toString('latin1');
}

function sameKey(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// `|1|base64(salt)|base64(HMAC-SHA1(key=salt, data=name))`, what `ssh-keygen -H` writes.
function hashedMatches(field: string, name: string): boolean {
  const parts = field.split('|');
  if (parts.length !== 4 || !parts[2] || !parts[3]) return false;
  const salt = Buffer.from(parts[2], 'base64');
  const expected = Buffer.from(parts[3], 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return sameKey(expected, actual);
}

// OpenSSH match_pattern: '*' any run, '?' any one character, case-insensitive for host names.
function wildcardMatches(pattern: string, name: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .toLowerCase()
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return regex.test(name.toLowerCase());
}
