/**
 * Which member to snapshot: pure, from the probes. The leader holds the latest committed data; with
 * no leader (quorum lost) the healthy member with the highest raft index is the best we have, and
 * the backup is marked degraded so people know it may lag.
 */
import type { MemberProbe, MemberStatus } from './members.ts';

export interface SourceChoice {
  readonly member: MemberStatus;
  readonly quality: 'leader' | 'degraded';
  readonly warnings: readonly string[];
}

export function chooseSource(probes: readonly MemberProbe[], exclude: ReadonlySet<string> = new Set()): SourceChoice | undefined {
  const healthy = probes.filter(
    (p): p is MemberStatus => p.reachable && !p.isLearner && p.errors.length === 0 && !exclude.has(p.id),
  );
  const warnings = probes
    .filter((p) => !p.reachable)
    .map((p) => `member ${p.name ?? p.endpoint} (${p.endpoint}) is unreachable: ${p.reachable ? '' : p.error}`);

  const leader = healthy.find((p) => p.id === p.leaderId);
  if (leader) return { member: leader, quality: 'leader', warnings };

  const best = [...healthy].sort((a, b) => b.raftIndex - a.raftIndex || b.revision - a.revision)[0];
  if (!best) return undefined;
  return {
    member: best,
    quality: 'degraded',
    warnings: [
      ...warnings,
      `no member is the leader (quorum lost?): snapshotting ${best.name} (raft index ${best.raftIndex}), the most up-to-date reachable member; the backup may miss the newest writes`,
    ],
  };
}
