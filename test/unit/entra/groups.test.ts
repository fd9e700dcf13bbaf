import { describe, expect, it } from 'vitest';
import { GroupState, type GraphGroup } from '../../../src/sources/entra/groups.js';

const user = (id: string, removed = false) => ({ '@odata.type': '#microsoft.graph.user', id, ...(removed ? { '@removed': { reason: 'deleted' } } : {}) });
const nested = (id: string, removed = false) => ({ '@odata.type': '#microsoft.graph.group', id, ...(removed ? { '@removed': { reason: 'deleted' } } : {}) });
const sets = (m: Map<string, Set<string>>) => Object.fromEntries([...m].map(([u, g]) => [u, [...g].sort()]).sort());

describe('group membership state', () => {
  it('merges a group whose members come on several pages', () => {
    const s = new GroupState();
    s.apply({ id: 'g1', displayName: 'LargeGroup', 'members@delta': [user('u1'), user('u2')] });
    s.apply({ id: 'g1', displayName: 'LargeGroup', 'members@delta': [user('u3'), user('u4', true)] });
    s.apply({ id: 'g2', displayName: 'Empty' });
    expect(s.toJson()).toEqual({ g1: { name: 'LargeGroup', users: ['u1', 'u2', 'u3'], groups: [] }, g2: { name: 'Empty', users: [], groups: [] } });
  });

  it('applies additions, removals, renames and deleted groups; a replay changes nothing', () => {
    const s = GroupState.fromJson({ g1: { name: 'DC Ops', users: ['u1', 'u2'], groups: [] }, g2: { name: 'Old', users: ['u3'], groups: [] } });
    const round: GraphGroup[] = [
      { id: 'g1', displayName: 'DC Operations', 'members@delta': [user('u2', true), user('u5'), { '@odata.type': '#microsoft.graph.device', id: 'd1' }] },
      { id: 'g2', '@removed': { reason: 'changed' } },
    ];
    for (const g of round) s.apply(g);
    const once = s.toJson();
    for (const g of round) s.apply(g);
    expect(s.toJson()).toEqual(once);
    expect(once).toEqual({ g1: { name: 'DC Operations', users: ['u1', 'u5'], groups: [] } });
  });

  it('computes direct and transitive memberships, nesting cycles included', () => {
    const s = GroupState.fromJson({
      all: { name: 'All staff', users: [], groups: ['ops', 'sec'] },
      ops: { name: 'Ops', users: ['u1'], groups: ['night'] },
      night: { name: 'Night shift', users: ['u2'], groups: ['all'] },
      sec: { name: 'Security', users: ['u3'], groups: [] },
    });
    expect(sets(s.memberships(false))).toEqual({ u1: ['ops'], u2: ['night'], u3: ['sec'] });
    expect(sets(s.memberships(true))).toEqual({
      u1: ['all', 'night', 'ops'],
      u2: ['all', 'night', 'ops'],
      u3: ['all', 'night', 'ops', 'sec'],
    });
    s.apply({ id: 'night', 'members@delta': [nested('all', true)] });
    expect(sets(s.memberships(true))).toEqual({ u1: ['all', 'ops'], u2: ['all', 'night', 'ops'], u3: ['all', 'sec'] });
  });

  it('survives a round trip through its JSON form', () => {
    const s = new GroupState();
    s.apply({ id: 'g1', displayName: 'A', 'members@delta': [user('u1'), nested('g2')] });
    expect(GroupState.fromJson(JSON.parse(JSON.stringify(s.toJson()))).toJson()).toEqual(s.toJson());
  });
});
