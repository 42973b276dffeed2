/** Which member a backup snapshots: pure decisions over member probes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemberProbe, MemberStatus } from '../../src/etcd/members.ts';
import { chooseSource } from '../../src/etcd/source.ts';

function member(id: string, overrides: Partial<MemberStatus> = {}): MemberStatus {
  return {
    endpoint: `http://10.0.0.${id}:2379`,
    reachable: true,
    id,
    name: `node-${id}`,
    leaderId: '1',
    revision: 100,
    raftTerm: 2,
    raftIndex: 500,
    version: '3.5.30',
    dbSize: 1 << 20,
    isLearner: false,
    errors: [],
    ...overrides,
  };
}
const down = (id: string): MemberProbe => ({ endpoint: `http://10.0.0.${id}:2379`, reachable: false, name: `node-${id}`, error: 'connection refused' });

describe('chooseSource', () => {
  it('takes the leader when a majority answers', () => {
    const choice = chooseSource([member('1'), member('2'), down('3')]);
    assert.equal(choice?.member.id, '1');
    assert.equal(choice?.quality, 'leader');
    assert.match(choice!.warnings.join('\n'), /node-3 .* unreachable/);
  });

  it('does not trust a member that still calls itself leader without a majority', () => {
    const choice = chooseSource([member('1', { raftIndex: 400 }), down('2'), down('3')]);
    assert.equal(choice?.quality, 'degraded');
    assert.match(choice!.warnings.join('\n'), /only 1 of 3 members answer/);
  });

  it('without a leader takes the member with the highest raft index, even while it reports "no leader"', () => {
    const noLeader = { leaderId: '0', errors: ['etcdserver: no leader'] };
    const choice = chooseSource([member('1', { ...noLeader, raftIndex: 480 }), member('2', { ...noLeader, raftIndex: 510 }), down('3')]);
    assert.equal(choice?.member.id, '2');
    assert.equal(choice?.quality, 'degraded');
  });

  it('never snapshots a member with a CORRUPT alarm, nor a learner, nor an excluded member', () => {
    const probes = [member('1', { errors: ['memberID:1 alarm:CORRUPT'] }), member('2', { isLearner: true }), member('3')];
    assert.equal(chooseSource(probes)?.member.id, '3');
    assert.equal(chooseSource(probes, new Set(['3'])), undefined);
  });

  it('returns nothing when no member answers', () => {
    assert.equal(chooseSource([down('1'), down('2')]), undefined);
  });
});
