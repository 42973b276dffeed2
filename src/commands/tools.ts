/** Getting the etcd binaries that match a backup's etcd version. */
import type { Manifest } from '../repository/manifest.ts';
import type { ToolSettings } from '../config/restore.ts';
import { resolveEtcdTools, type EtcdTools } from '../restore/etcdTools.ts';
import { NO_TOOL_CACHE, type CommandDeps } from './context.ts';

export function etcdToolsFor(manifest: Manifest, settings: ToolSettings, deps: CommandDeps): Promise<EtcdTools> {
  return resolveEtcdTools({
    // The version the backup's manifest recorded, unless the user pins one.
    version: settings.version ?? manifest.etcdVersion,
    ...(settings.binDir ? { binDir: settings.binDir } : {}),
    downloadBaseUrl: settings.downloadBaseUrl,
    toolsDir: settings.toolsDir,
    cache: deps.toolCache ?? NO_TOOL_CACHE,
    log: deps.log,
  });
}
