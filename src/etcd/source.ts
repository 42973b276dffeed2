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
  // A member reporting errors (e.g. "no leader" once quorum is lost, or a NOSPACE alarm) can still be
  // read; only one that suspects its own data (a CORRUPT alarm) must never be the source of a backup.
  const healthy = probes.filter(
    (p): p is MemberStatus => p.reachable && !p.isLearner && !p.errors.some((e) => /corrupt/i.test(e)) && !exclude.has(p.id),
  );
  const warnings = [
    ...probes
      .filter((p) => !p.reachable)
      .map((p) => `member ${p.name ?? p.endpoint} (${p.endpoint}) is unreachable: ${p.reachable ? '' : p.error}`),
    ...probes.flatMap((p) => (p.reachable && p.errors.length > 0 ? [`member ${p.name} reports: ${p.errors.join('; ')}`] : [])),
  ];

  // A member can still call itself leader for an election timeout after losing its peers; only a
  // leader with a majority of members answering is trusted to hold the latest committed data.
  const answering = probes.filter((p) => p.reachable).length;
  const quorum = answering > probes.length / 2;
  const leader = healthy.find((p) => p.id === p.leaderId);
  if (leader && quorum) return { member: leader, quality: 'leader', warnings };
  if (!quorum) warnings.push(`only ${answering} of ${probes.length} members answer: quorum is lost`);

  const best = [...healthy].sort((a, b) => b.raftIndex - a.raftIndex || b.revision - a.revision)[0];
  if (!best) return undefined;
  return {
    member: best,
    quality: 'degraded',
    warnings: [
      ...warnings,
      `no trustworthy leader: snapshotting ${best.name} (raft index ${best.raftIndex}), the most up-to-date reachable member; the backup may miss the newest writes`,
    ],
  };
}
