/**
 * Store URLs, parsed strictly: they arrive as workflow inputs, so anything that is not exactly one of the
 * two accepted forms is rejected before any connection is made. Also the checks on the folder and file
 * names the catalog hands to a store, so a backend never builds a path that leaves its root.
 *
 *   sftp://user@host[:port]/absolute/path      (port 22 by default; IPv6 as [::1])
 *   file:///absolute/path
 */
import { InputError } from '../errors.ts';

export type StoreLocation =
  | {
      readonly kind: 'sftp';
      readonly user: string;
      /** Host name or address, IPv6 without brackets (as net.connect wants it). */
      readonly host: string;
      readonly port: number;
      /** Absolute, normalised (no trailing slash unless it is `/`). */
      readonly path: string;
      /** Display form without credentials, port always spelled out: `sftp://backup@dc1:22/srv/etcd`. */
      readonly id: string;
    }
  | { readonly kind: 'file'; readonly path: string; readonly id: string };

const SFTP_URL =
  /^sftp:\/\/(?:(?<userinfo>[^@/?#\s]*)@)?(?<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(?<port>\d{1,5}))?(?<path>\/[^?#\s]*)?(?<rest>.*)$/;
const FILE_URL = /^file:\/\/(?<path>[^?#\s]*)(?<rest>.*)$/;
// POSIX portable user names plus '.', which real systems allow; nothing that needs escaping.
const USER = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;

/** Parses one store URL. `label` names where it came from in error messages (e.g. `stores line 2`). */
export function parseStoreUrl(text: string, label = 'store URL'): StoreLocation {
  const url = text.trim();
  const fail = (why: string): never => {
    throw new InputError(`${label} ${JSON.stringify(url)} is not valid: ${why}`);
  };
  if (url.includes('\0')) fail('it contains a NUL byte');

  if (/^sftp:/i.test(url)) {
    const m = SFTP_URL.exec(url);
    if (!m?.groups) return fail('expected sftp://user@host[:port]/absolute/path');
    const { userinfo, host, port, path, rest } = m.groups;
    if (rest) fail(rest.startsWith('?') || rest.startsWith('#') ? 'query strings and fragments are not supported' : 'expected sftp://user@host[:port]/absolute/path');
    if (userinfo === undefined) fail('a user is required (sftp://user@host/path)');
    if (userinfo!.includes(':')) fail('passwords in URLs are not supported; use a private key (ssh-private-key)');
    if (!USER.test(userinfo!)) fail(`user ${JSON.stringify(userinfo)} is not a valid user name`);
    if (path === undefined) fail('an absolute path is required (sftp://user@host/path)');
    const portNumber = port === undefined ? 22 : Number(port);
    if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) fail(`port ${port} is out of range`);
    const bareHost = host!.startsWith('[') ? host!.slice(1, -1).toLowerCase() : host!.toLowerCase();
    if (host!.startsWith('[') && !bareHost.includes(':')) fail('brackets are only for IPv6 addresses');
    const normalised = normalisePath(path!, fail);
    const hostForId = bareHost.includes(':') ? `[${bareHost}]` : bareHost;
    return {
      kind: 'sftp',
      user: userinfo!,
      host: bareHost,
      port: portNumber,
      path: normalised,
      id: `sftp://${userinfo}@${hostForId}:${portNumber}${normalised}`,
    };
  }

  if (/^file:/i.test(url)) {
    const m = FILE_URL.exec(url);
    if (!m?.groups) return fail('expected file:///absolute/path');
    const { path, rest } = m.groups;
    if (rest) fail('query strings and fragments are not supported');
    // file://host/path and file://relative would silently mean something else: only file:///abs is accepted.
    if (!path!.startsWith('/')) fail('expected file:///absolute/path (three slashes, absolute path)');
    const normalised = normalisePath(path!, fail);
    return { kind: 'file', path: normalised, id: `file://${normalised}` };
  }

  return fail('only sftp://user@host[:port]/path and file:///path are supported');
}

/**
 * Parses the `stores` input: one URL per line, blank lines and surrounding spaces ignored. Commas are not
 * separators (a path may contain one), so two URLs on one line are reported as such.
 */
export function parseStoreList(text: string): StoreLocation[] {
  const stores: StoreLocation[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const label = `stores line ${index + 1}`;
    if ((line.match(/:\/\//g) ?? []).length > 1) {
      throw new InputError(`${label} ${JSON.stringify(line)} holds more than one URL: put one store URL per line`);
    }
    const store = parseStoreUrl(line, label);
    const previous = seen.get(store.id);
    if (previous !== undefined) {
      throw new InputError(`${label}: ${store.id} is listed twice (also on line ${previous})`);
    }
    seen.set(store.id, index + 1);
    stores.push(store);
  });
  if (stores.length === 0) throw new InputError('stores is empty: list at least one store URL, one per line');
  return stores;
}

/** Percent-decodes, collapses '//' and drops a trailing '/'; rejects '.' and '..' segments. */
function normalisePath(path: string, fail: (why: string) => never): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return fail('the path has an invalid percent-escape');
  }
  if (decoded.includes('\0')) fail('the path contains a NUL byte');
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) fail("the path must not contain '.' or '..' segments");
  return `/${segments.join('/')}`;
}

/**
 * Checks a folder (one or more plain segments joined by '/') and a file name before a backend turns them
 * into a path, so no input can escape the store's root. Returns the segments to join.
 */
export function storePathSegments(folder: string, name?: string): string[] {
  const segments = folder.split('/');
  for (const segment of segments) assertSegment(segment, 'folder', folder);
  if (name !== undefined) {
    if (name.includes('/') || name.includes('\\')) {
      throw new InputError(`file name ${JSON.stringify(name)} must not contain a path separator`);
    }
    assertSegment(name, 'file name', name);
    segments.push(name);
  }
  return segments;
}

function assertSegment(segment: string, what: string, whole: string): void {
  if (segment === '' || segment === '.' || segment === '..' || segment.includes('\0') || segment.includes('\\')) {
    throw new InputError(`${what} ${JSON.stringify(whole)} is not a plain relative name`);
  }
}
