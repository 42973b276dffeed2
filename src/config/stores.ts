/** Store settings: the URL list plus SSH credentials, validated up front. */
import { openStores } from '../stores/index.ts';
import type { Store } from '../stores/store.ts';
import { Inputs } from './names.ts';
import { required, secretText, type SettingSource } from './source.ts';

export function storesFromSettings(source: SettingSource): Store[] {
  const urls = required(source, Inputs.Stores, 'one store URL per line (sftp://user@host/path or file:///path)');
  const sshPrivateKey = secretText(source, Inputs.SshPrivateKey);
  const sshKnownHosts = source.get(Inputs.SshKnownHosts);
  return openStores(urls, {
    ...(sshPrivateKey ? { sshPrivateKey } : {}),
    ...(sshKnownHosts ? { sshKnownHosts } : {}),
  });
}

export async function closeAll(stores: readonly Store[]): Promise<void> {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
}
