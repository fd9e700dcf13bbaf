import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account, Membership } from '../domain/access.js';
import { LockstepError } from '../domain/errors.js';
import type { ConformanceHarness, LockDriver } from './contract.js';

/**
 * The conformance kit: what every LockDriver must do, proved against the driver's fake over
 * real transport (HTTP, or gRPC for Salto Nebula). A driver's test file calls
 *
 *   describeConformance('gallagher', async () => ({ driver, groups, addCredential, ... }));
 *
 * Test code only: it imports vitest. Each test makes its own accounts (unique externalIds),
 * so they do not depend on each other; the one that leaves the fake failing runs last.
 */
export function describeConformance(name: string, setup: () => Promise<ConformanceHarness>): void {
  describe(`LockDriver conformance: ${name}`, () => {
    let h: ConformanceHarness;
    let d: LockDriver;
    const run = randomUUID().slice(0, 8);
    let n = 0;
    const externalId = (): string => `conf-${run}-${++n}`;
    const newAccount = async (): Promise<Account> => {
      const x = externalId();
      return d.upsertAccount({ externalId: x, displayName: `Conformance ${x}`, firstName: 'Con', lastName: x });
    };
    const mustGet = async (id: string): Promise<Account> => {
      const a = await d.getAccount(id);
      expect(a, `account ${id} should exist`).not.toBeNull();
      return a as Account;
    };
    const membershipsIn = (a: Account, group: string): Membership[] => a.memberships.filter((m) => m.group === group);

    beforeAll(async () => {
      h = await setup();
      d = h.driver;
      expect(h.groups.length, 'the harness must name at least two access groups').toBeGreaterThanOrEqual(2);
    });
    afterAll(async () => {
      await d?.close?.();
      await h?.teardown();
    });

    it('lists the access groups the fake defines', async () => {
      const refs = (await d.listAccessGroups()).map((g) => g.ref);
      for (const g of h.groups) expect(refs).toContain(g);
    });

    it('creates an account with upsertAccount and finds it by externalId', async () => {
      const x = externalId();
      const created = await d.upsertAccount({ externalId: x, displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' });
      expect(created.id).toBeTruthy();
      expect(created.externalId).toBe(x);
      expect(created.displayName).toBe('Ada Lovelace');
      const found = await d.findAccount(x);
      expect(found?.id).toBe(created.id);
      expect((await mustGet(created.id)).externalId).toBe(x);
    });

    it('updates the same account on a second upsert, without a duplicate', async () => {
      const x = externalId();
      const first = await d.upsertAccount({ externalId: x, displayName: 'Grace Hopper' });
      const second = await d.upsertAccount({ externalId: x, displayName: 'Grace B. Hopper' });
      expect(second.id).toBe(first.id);
      expect((await mustGet(first.id)).displayName).toBe('Grace B. Hopper');
      const all = (await listAll(d)).items;
      expect(all.filter((a) => a.externalId === x)).toHaveLength(1);
    });

    it('answers null for an externalId it does not hold', async () => {
      expect(await d.findAccount(`absent-${run}-${randomUUID()}`)).toBeNull();
    });

    it('grants idempotently: granting twice leaves one membership', async () => {
      const a = await newAccount();
      const [g] = h.groups;
      const v = { from: null, until: null };
      await d.grant(a.id, g, v);
      await d.grant(a.id, g, v);
      expect(membershipsIn(await mustGet(a.id), g)).toHaveLength(1);
    });

    it('updates the validity when granting again with a new one', async () => {
      const a = await newAccount();
      const [g] = h.groups;
      const first = { from: '2030-01-01T00:00:00.000Z', until: '2030-06-30T00:00:00.000Z' };
      const second = { from: '2030-02-01T00:00:00.000Z', until: '2031-01-31T00:00:00.000Z' };
      await d.grant(a.id, g, first);
      await d.grant(a.id, g, second);
      const after = await mustGet(a.id);
      const ms = membershipsIn(after, g);
      expect(ms).toHaveLength(1);
      if (d.capabilities.validity === 'membership') {
        expect(sameInstant(ms[0].from, second.from), `membership from ${ms[0].from}`).toBe(true);
        expect(sameInstant(ms[0].until, second.until), `membership until ${ms[0].until}`).toBe(true);
      } else if (d.capabilities.validity === 'account') {
        // The engine owns the account's window (upsertAccount's validity: the latest end of its
        // groups, see accountWindow in reconcile/plan.ts); a driver may also widen it on a grant.
        // What it must do is store the window it is given and report it.
        expect(a.externalId, 'the account reports its externalId').toBeTruthy();
        await d.upsertAccount({ externalId: a.externalId as string, displayName: a.displayName, validity: second });
        const dated = await mustGet(a.id);
        expect(sameInstant(dated.validity?.from ?? null, second.from), `account from ${dated.validity?.from}`).toBe(true);
        expect(sameInstant(dated.validity?.until ?? null, second.until), `account until ${dated.validity?.until}`).toBe(true);
        expect(membershipsIn(dated, g)).toHaveLength(1);
      }
    });

    it('revokes every membership of the group and leaves other groups alone', async () => {
      const a = await newAccount();
      const [g, other] = h.groups;
      await d.grant(a.id, g, { from: null, until: null });
      await d.grant(a.id, other, { from: null, until: null });
      await d.revoke(a.id, g);
      const after = await mustGet(a.id);
      expect(membershipsIn(after, g)).toHaveLength(0);
      expect(membershipsIn(after, other)).toHaveLength(1);
    });

    it('revokes idempotently, including a membership that is not there', async () => {
      const a = await newAccount();
      const [g, other] = h.groups;
      await d.grant(a.id, g, { from: null, until: null });
      await d.revoke(a.id, g);
      await expect(d.revoke(a.id, g)).resolves.toBeUndefined();
      await expect(d.revoke(a.id, other)).resolves.toBeUndefined();
      expect(membershipsIn(await mustGet(a.id), g)).toHaveLength(0);
    });

    it('suspends and reactivates an account', async (ctx) => {
      if (!d.capabilities.suspendAccount) return ctx.skip('driver cannot suspend accounts');
      const a = await newAccount();
      await d.setAccountState(a.id, 'suspended');
      expect((await mustGet(a.id)).state).toBe('suspended');
      await d.setAccountState(a.id, 'suspended');
      expect((await mustGet(a.id)).state).toBe('suspended');
      await d.setAccountState(a.id, 'active');
      expect((await mustGet(a.id)).state).toBe('active');
    });

    it('sets credential states that getAccount then reports', async (ctx) => {
      const can = d.capabilities.credentialStates;
      if (can === false) return ctx.skip('driver has no credential states');
      const a = await newAccount();
      const credentialId = await h.addCredential(a.id);
      const before = (await mustGet(a.id)).credentials.find((c) => c.id === credentialId);
      expect(before?.status).toBe('active');
      if (can === true) {
        await d.setCredentialState(a.id, credentialId, 'suspended');
        expect((await mustGet(a.id)).credentials.find((c) => c.id === credentialId)?.status).toBe('suspended');
        await d.setCredentialState(a.id, credentialId, 'lost');
        expect((await mustGet(a.id)).credentials.find((c) => c.id === credentialId)?.status).toBe('lost');
        return;
      }
      // only some states (keys that can be cancelled, not suspended): the first one it declares,
      // after which the credential reports that state or is gone (a cancelled key opens nothing)
      const state = can.find((x) => x !== 'active');
      expect(state, 'a declared credential state other than active').toBeDefined();
      await d.setCredentialState(a.id, credentialId, state!);
      const after = (await mustGet(a.id)).credentials.find((c) => c.id === credentialId);
      if (after) expect(['lost', 'revoked'].includes(state!) ? ['lost', 'revoked'] : [state]).toContain(after.status);
      // idempotent, as every mutating call
      await d.setCredentialState(a.id, credentialId, state!);
    });

    it('reports when each active key of an offline system expires (what learnedBy rests on)', async (ctx) => {
      const offline = d.capabilities.offline;
      if (!offline) return ctx.skip('driver declares no offline keys');
      expect(offline.revalidationDays, 'offline.revalidationDays').toBeGreaterThan(0);
      const a = await newAccount();
      const credentialId = await h.addCredential(a.id);
      const key = (await mustGet(a.id)).credentials.find((c) => c.id === credentialId);
      expect(key?.status).toBe('active');
      // an active data-on-card key carries the instant it stops opening offline locks: in the future, within the declared period (a day's slack)
      expect(typeof key?.keyExpiresAt, 'an active key of an offline system has keyExpiresAt').toBe('string');
      const until = Date.parse(key!.keyExpiresAt!);
      expect(until).toBeGreaterThan(Date.now());
      expect(until).toBeLessThanOrEqual(Date.now() + (offline.revalidationDays + 1) * 86_400_000);
    });

    it('pages through all accounts with listAccounts, missing none and repeating none', async () => {
      const before = await listAll(d);
      await h.seedAccounts(250);
      const after = await listAll(d);
      expect(after.pages, 'all accounts came in one page, so paging was not exercised: give the harness driver a page size below 250').toBeGreaterThan(1);
      const ids = after.items.map((a) => a.id);
      expect(new Set(ids).size, 'duplicate account ids across pages').toBe(ids.length);
      expect(ids.length).toBe(before.items.length + 250);
      const afterIds = new Set(ids);
      for (const a of before.items) expect(afterIds.has(a.id), `account ${a.id} missing from the listing`).toBe(true);
    });

    it('reads a recorded access event once, with its account and credential', async (ctx) => {
      if (d.capabilities.accessEvents === 'none') return ctx.skip('driver reads no access events');
      let cursor = await drainEvents(d, null);
      const a = await newAccount();
      const credentialId = await h.addCredential(a.id);
      await h.recordAccess(a.id, credentialId);
      // Fakes may deliver events asynchronously: poll a bounded number of times (no timing assertion).
      let seen: { id: string; accountId: string | null; credentialId: string | null; granted: boolean } | undefined;
      for (let i = 0; i < 50 && !seen; i++) {
        const r = await d.readAccessEvents(cursor);
        seen = r.events.find((e) => e.accountId === a.id);
        cursor = r.cursor;
        if (!seen) await new Promise((res) => setTimeout(res, 20));
      }
      expect(seen, 'the recorded access was not returned').toBeDefined();
      expect(seen?.credentialId).toBe(credentialId);
      expect(seen?.granted).toBe(true);
      const again = await d.readAccessEvents(cursor);
      expect(again.events.map((e) => e.id)).not.toContain(seen?.id);
    });

    it('stores a declared field limit and refuses one character more', async (ctx) => {
      const limits = d.capabilities.limits ?? {};
      if (Object.keys(limits).length === 0) return ctx.skip('driver declares no field limits');
      const refused = async (input: Parameters<LockDriver['upsertAccount']>[0], what: string) => {
        const err = await d.upsertAccount(input).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, `${what} over the declared limit was accepted: the limit is wrong or the system truncates`).toBeInstanceOf(LockstepError);
        expect((err as LockstepError).code, `${what} over the declared limit`).toBe('validation');
      };
      if (limits.displayName !== undefined) {
        const max = limits.displayName;
        const a = await d.upsertAccount({ externalId: externalId(), displayName: 'D'.repeat(max) });
        expect((await mustGet(a.id)).displayName, `a displayName of ${max} characters should read back whole`).toBe('D'.repeat(max));
        await refused({ externalId: externalId(), displayName: 'D'.repeat(max + 1) }, `displayName of ${max + 1} characters`);
      }
      if (limits.externalId !== undefined) {
        const max = limits.externalId;
        const x = externalId();
        const long = `${x}-${'e'.repeat(Math.max(0, max - x.length - 1))}`.slice(0, max);
        const a = await d.upsertAccount({ externalId: long, displayName: 'Long Key' });
        expect((await d.findAccount(long))?.id, `an externalId of ${max} characters should be found again`).toBe(a.id);
        await refused({ externalId: `${long}e`, displayName: 'Longer Key' }, `externalId of ${max + 1} characters`);
      }
      if (limits.email !== undefined) {
        const max = limits.email;
        const at = '@example.com';
        await expect(
          d.upsertAccount({ externalId: externalId(), displayName: 'Long Mail', email: `${'m'.repeat(max - at.length)}${at}` }),
        ).resolves.toBeTruthy();
        await refused(
          { externalId: externalId(), displayName: 'Longer Mail', email: `${'m'.repeat(max - at.length + 1)}${at}` },
          `email of ${max + 1} characters`,
        );
      }
    });

    it('answers null for an account id it does not hold', async () => {
      let unknown = '999999999';
      if (d.capabilities.deleteAccount) {
        const a = await newAccount();
        await d.deleteAccount(a.id);
        unknown = a.id;
      }
      expect(await d.getAccount(unknown)).toBeNull();
    });

    it('deletes an account, idempotently', async (ctx) => {
      if (!d.capabilities.deleteAccount) return ctx.skip('driver cannot delete accounts');
      const a = await newAccount();
      await d.grant(a.id, h.groups[0], { from: null, until: null });
      await d.deleteAccount(a.id);
      expect(await d.getAccount(a.id)).toBeNull();
      expect(await d.findAccount(a.externalId as string)).toBeNull();
      await expect(d.deleteAccount(a.id)).resolves.toBeUndefined();
    });

    it('retries a 429 with Retry-After transparently, or reports rate_limited', async () => {
      const a = await newAccount();
      await h.failNext(429, { times: 1, retryAfterSeconds: 1 });
      try {
        const got = await d.getAccount(a.id);
        expect(got?.id).toBe(a.id);
      } catch (e) {
        expect(e).toBeInstanceOf(LockstepError);
        expect((e as LockstepError).code).toBe('rate_limited');
        expect((e as LockstepError).retryable).toBe(true);
      }
    });

    // Last: the fake keeps failing after this test, and the harness has no way to stop it.
    it('reports a persistent 503 as unavailable', async () => {
      await h.failNext(503, { times: 10_000 });
      const err = await d.listAccessGroups().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LockstepError);
      expect((err as LockstepError).code).toBe('unavailable');
      expect((err as LockstepError).retryable).toBe(true);
    });
  });
}

/** Pages to the end; fails on a cursor that does not move (a driver bug that would loop forever). */
async function listAll(d: LockDriver): Promise<{ items: Account[]; pages: number }> {
  const out: Account[] = [];
  let cursor: string | null = null;
  const seen = new Set<string>();
  for (let pages = 1; pages <= 100_000; pages++) {
    const page = await d.listAccounts(cursor);
    out.push(...page.items);
    if (page.next === null) return { items: out, pages };
    if (seen.has(page.next)) throw new Error(`listAccounts returned cursor ${page.next} twice`);
    seen.add(page.next);
    cursor = page.next;
  }
  throw new Error('listAccounts did not end');
}

/** Reads until the driver has nothing more, returning the cursor to continue from. */
async function drainEvents(d: LockDriver, cursor: string | null): Promise<string | null> {
  for (let i = 0; i < 10_000; i++) {
    const r = await d.readAccessEvents(cursor);
    cursor = r.cursor;
    if (r.events.length === 0) return cursor;
  }
  throw new Error('readAccessEvents never ran dry');
}

function sameInstant(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return Date.parse(a) === Date.parse(b);
}
