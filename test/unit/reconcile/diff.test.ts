import { describe, expect, it } from 'vitest';
import type { Account, AccessGroup, Entitlement } from '../../../src/domain/access.js';
import type { Identity } from '../../../src/domain/identity.js';
import { diff, type DiffPolicy, type DiffSystem } from '../../../src/reconcile/diff.js';
import type { Evaluation } from '../../../src/policy/evaluate.js';

const now = new Date('2026-06-01T08:00:00.000Z');
const policy: DiffPolicy = { lifecycle: { leaver: 'suspend', orphans: 'report' }, classes: {} };
const office: AccessGroup = { id: 'office', system: 'dc1', ref: 'AG-OFFICE', name: 'Office', protectionClass: 1 };
const whitespace: AccessGroup = { id: 'whitespace', system: 'dc1', ref: 'AG-WS', name: 'Whitespace', protectionClass: 3 };
const online: DiffSystem = {
  name: 'dc1',
  caps: { validity: 'membership', suspendAccount: true, credentialStates: true, accessEvents: 'none', deleteAccount: true },
  managed: new Map([office, whitespace].map((g) => [g.ref, g])),
};

const person = (over: Partial<Identity> = {}): Identity => ({
  id: 'id-1',
  source: 'hr',
  externalId: 'E1',
  userName: 'ada',
  displayName: 'Ada Lovelace',
  active: true,
  groups: [],
  roles: [],
  attributes: {},
  deletedAt: null,
  createdAt: now.toISOString(),
  updatedAt: now.toISOString(),
  version: 1,
  ...over,
});
const entitled = (g: AccessGroup, validUntil: string | null = null): Entitlement => ({
  identityId: 'id-1',
  accessGroup: g,
  validFrom: null,
  validUntil,
  reasons: [{ rule: 'staff', matched: { employeeType: 'Employee' } }],
});
const evaluation = (entitlements: Entitlement[], over: Partial<Evaluation> = {}): Evaluation => ({
  leaver: false,
  entitlements,
  denied: [],
  nextCheckAt: null,
  ...over,
});
const account = (over: Partial<Account> = {}): Account => ({
  id: 'acc-1',
  externalId: 'E1',
  displayName: 'Ada Lovelace',
  state: 'active',
  memberships: [],
  credentials: [],
  ...over,
});
const kinds = (ops: { kind: string; group?: { ref: string } | undefined }[]) => ops.map((o) => `${o.kind}${o.group ? ` ${o.group.ref}` : ''}`);

describe('diff (pure: identity, entitlements and observed account in, operations out)', () => {
  it('creates a joiner’s account and grants what they are entitled to', () => {
    const out = diff({ policy, system: online, identity: { identity: person(), evaluation: evaluation([entitled(office)]), anchors: {} }, account: null, now });
    expect(kinds(out.operations)).toEqual(['create_account', 'grant AG-OFFICE']);
    expect(out.operations.every((o) => !o.revocation)).toBe(true);
    expect(out.operations[0].reason.cause).toBe('joiner');
  });

  it('grants a mover what they gained and revokes what they lost, the revocation marked as one', () => {
    const out = diff({
      policy,
      system: online,
      identity: { identity: person(), evaluation: evaluation([entitled(whitespace)]), anchors: {} },
      account: account({ memberships: [{ group: 'AG-OFFICE', from: null, until: null }] }),
      link: { accountId: 'acc-1' },
      now,
    });
    expect(kinds(out.operations)).toEqual(['grant AG-WS', 'revoke AG-OFFICE']);
    expect(out.operations.find((o) => o.kind === 'revoke')!.revocation).toBe(true);
  });

  it('finds nothing to do for a converged person, and says when time alone changes that', () => {
    const until = '2026-07-01T00:00:00.000Z';
    const out = diff({
      policy,
      system: online,
      identity: { identity: person(), evaluation: evaluation([entitled(office, until)], { nextCheckAt: until }), anchors: { office: now.toISOString() } },
      account: account({ memberships: [{ group: 'AG-OFFICE', from: null, until }] }),
      link: { accountId: 'acc-1' },
      now,
    });
    expect(out.operations).toEqual([]);
    expect(out.nextCheckAt).toBe(until);
  });

  it('revokes a leaver’s memberships and suspends the account', () => {
    const out = diff({
      policy,
      system: online,
      identity: { identity: person({ active: false }), evaluation: evaluation([], { leaver: true }), anchors: {} },
      account: account({ memberships: [{ group: 'AG-OFFICE', from: null, until: null }] }),
      link: { accountId: 'acc-1' },
      now,
    });
    expect(kinds(out.operations)).toEqual(['revoke AG-OFFICE', 'suspend_account']);
    expect(out.operations.every((o) => o.revocation && o.reason.cause === 'leaver')).toBe(true);
  });

  it('says by when an offline system learns a leaver’s revocation (the latest key expiry)', () => {
    const offline: DiffSystem = { ...online, caps: { ...online.caps, offline: { revalidationDays: 7 } } };
    const expires = '2026-06-03T00:00:00.000Z';
    const out = diff({
      policy,
      system: offline,
      identity: { identity: person({ active: false }), evaluation: evaluation([], { leaver: true }), anchors: {} },
      account: account({
        memberships: [{ group: 'AG-OFFICE', from: null, until: null }],
        credentials: [{ id: 'k1', type: 'key', status: 'active', lastUsedAt: null, keyExpiresAt: expires }],
      }),
      link: { accountId: 'acc-1' },
      now,
    });
    expect(out.operations.map((o) => o.learnedBy)).toEqual([expires, expires]);
  });

  it('fits a display name the system cannot hold instead of refusing the change, and says so', () => {
    const limited: DiffSystem = { ...online, caps: { ...online.caps, limits: { displayName: 8 } } };
    const out = diff({
      policy,
      system: limited,
      identity: { identity: person({ displayName: 'Augusta Ada King, Countess of Lovelace' }), evaluation: evaluation([entitled(office)]), anchors: {} },
      account: null,
      now,
    });
    const create = out.operations.find((o) => o.kind === 'create_account')!;
    expect(create.account!.displayName).toBe('Augusta');
    expect(create.fitted?.length).toBeGreaterThan(0);
  });

  it('links an account found by key that the store did not link yet', () => {
    const out = diff({
      policy,
      system: online,
      identity: { identity: person(), evaluation: evaluation([entitled(office)]), anchors: {} },
      account: account({ memberships: [{ group: 'AG-OFFICE', from: null, until: null }] }),
      now,
    });
    expect(kinds(out.operations)).toEqual(['link_account']);
  });
});
