/** Store settings: the URL list plus SSH credentials, validated up front. */
import { DEFAULT_RETRY_POLICY, openStores } from '../stores/index.ts';
import type { Store } from '../stores/store.ts';
import { Inputs } from './names.ts';
import { required, secretText, type SettingSource } from './source.ts';

/**
 * The stores, opened with ssh-private-key; `forRetention` opens them with prune-ssh-private-key when given
 * (a key that may delete, used only by retention, so the nodes' own key can be append-only).
 */
export function storesFromSettings(
  source: SettingSource,
  options?: { forRetention?: boolean; log?: { info(message: string): void } },
): Store[] {
  const urls = required(source, Inputs.Stores, 'one store URL per line (sftp://user@host/path or file:///path)');
  const pruneKey = options?.forRetention ? secretText(source, Inputs.PruneSshPrivateKey) : undefined;
  const sshPrivateKey = pruneKey ?? secretText(source, Inputs.SshPrivateKey);
  const sshKnownHosts = source.get(Inputs.SshKnownHosts);
  // `log` hears of every retry of a store operation (which store, attempt, reason).
  return openStores(
    urls,
    {
      ...(sshPrivateKey ? { sshPrivateKey } : {}),
      ...(sshKnownHosts ? { sshKnownHosts } : {}),
    },
    DEFAULT_RETRY_POLICY,
    options?.log,
  );
}

export async function closeAll(stores: readonly Store[]): Promise<void> {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
}
