/**
 * Turns the `stores` input and the SSH credentials into Store objects, each behind the retry wrapper.
 * Nothing connects here: inputs are validated (URLs, keys, known_hosts) so a typo fails before any side
 * effect, and connections open on first use or on an explicit `open()`.
 */
import { InputError } from '../errors.ts';
import { LocalStore } from './local.ts';
import { describeRetry } from '../base/resilience.ts';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from './retry.ts';
import { SftpStore } from './sftp.ts';
import type { Store } from './store.ts';
import { parseStoreList } from './url.ts';

export interface StoreCredentials {
  /** Private key text for every sftp:// store. */
  readonly sshPrivateKey?: string;
  readonly sshPrivateKeyPassphrase?: string;
  /** known_hosts text pinning the host key of every sftp:// store. */
  readonly sshKnownHosts?: string;
}

/**
 * `log`, when given, hears of every retry: `sftp://b@dc2/srv: listing prod: connection reset; retrying in 1s
 * (attempt 2 of 4)`.
 */
export function openStores(
  urls: string,
  credentials: StoreCredentials,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  log?: { info(message: string): void },
): Store[] {
  const retry: RetryPolicy = log ? { ...policy, onRetry: (info) => log.info(`${info.store}: ${describeRetry(info)}`) } : policy;
  return parseStoreList(urls).map((location) => {
    if (location.kind === 'file') return withRetry(new LocalStore(location.path, location.id), retry);
    if (!credentials.sshPrivateKey?.trim()) {
      throw new InputError(`${location.id}: ssh-private-key is required for sftp:// stores`);
    }
    if (!credentials.sshKnownHosts?.trim()) {
      throw new InputError(
        `${location.id}: ssh-known-hosts is required for sftp:// stores (the server's host key is pinned, never ` +
          `trusted on first use; get it with: ssh-keyscan -p ${location.port} ${location.host}, and verify it)`,
      );
    }
    return withRetry(
      new SftpStore({
        location,
        privateKey: credentials.sshPrivateKey,
        passphrase: credentials.sshPrivateKeyPassphrase,
        knownHosts: credentials.sshKnownHosts,
      }),
      retry,
    );
  });
}

export type { Store, StoredFile } from './store.ts';
export { parseStoreList, parseStoreUrl, type StoreLocation } from './url.ts';
export { withRetry, retryingOn, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';
export { HostKeyError } from './knownHosts.ts';
