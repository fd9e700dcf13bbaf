import type { Account, AccessGroup } from '../domain/access.js';
import type { LockDriver } from '../drivers/contract.js';
import { canSetCredentialState } from '../drivers/contract.js';
import { mapLimit } from '../drivers/util.js';
import { deletedShadowedByLive } from '../store/correlation.js';
import { knownExternalIds } from '../store/identities.js';
import { credentialFacts, credentialFactsFor, listLinks, noCredentialFacts, type CredentialFacts, type Link } from '../store/links.js';
import type { DiffSystem } from './diff.js';
import type { EngineContext } from './types.js';

/**
 * Observe: what is, read from the store (links, credential facts, key holders) and from the lock
 * systems (accounts by link or key, full listings). Reads only; plan.ts diffs it against what
 * the policy says should be.
 */

/** One lock system: what the diff sees of it, and its driver to read it with. */
export interface ObservedSystem extends DiffSystem {
  driver: LockDriver;
}

/** Every configured lock system, with the access groups the mappings declare in it. */
export function observedSystems(ctx: EngineContext): ObservedSystem[] {
  const out: ObservedSystem[] = [];
  for (const [name, driver] of ctx.drivers) {
    const managed = new Map<string, AccessGroup>();
    for (const g of ctx.policy.accessGroups.values()) if (g.system === name) managed.set(g.ref, g);
    out.push({ name, driver, caps: driver.capabilities, managed });
  }
  return out;
}

/** Every account of a system, page by page. */
export async function listAllAccounts(driver: LockDriver): Promise<Account[]> {
  const out: Account[] = [];
  let cursor: string | null = null;
  do {
    const page = await driver.listAccounts(cursor);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

const NO_IDS: ReadonlySet<string> = new Set();

/**
 * Deleted people whose key a live person holds (that key's account is the live one's). Of these
 * ids only (one round trip, none when no id is given), or of everyone (a full run).
 */
export async function shadowedDeleted(ctx: EngineContext, deletedIds?: string[]): Promise<ReadonlySet<string>> {
  if (deletedIds === undefined) return deletedShadowedByLive(ctx.db);
  return deletedIds.length ? deletedShadowedByLive(ctx.db, deletedIds) : NO_IDS;
}

/** Who the observed accounts belong to, for the identities-scoped look-ups. */
export interface AccountLookup {
  identityId: string;
  externalId: string;
  /** Looked up by key too (not for a conflicted identity, nor a deleted one whose key a live person holds). */
  byKey: boolean;
}

/**
 * The accounts of these people in one system (by their link, else by their key), side by side
 * (a bucket holds hundreds), in their order; with the credential facts of those accounts.
 */
export async function observeAccounts(
  ctx: EngineContext,
  sys: ObservedSystem,
  people: AccountLookup[],
  linkOf: Map<string, Link>,
): Promise<{ accounts: Array<Account | null>; usage: CredentialFacts }> {
  const accounts = await mapLimit(people, Math.max(1, ctx.executor.concurrency), async (p) => {
    const link = linkOf.get(p.identityId);
    return (link ? await sys.driver.getAccount(link.accountId) : null) ?? (p.byKey ? await sys.driver.findAccount(p.externalId) : null);
  });
  const usage = canSetCredentialState(sys.caps, 'suspended')
    ? await credentialFactsFor(
        ctx.db,
        sys.name,
        accounts.flatMap((a) => a?.credentials.map((c) => c.id) ?? []),
      )
    : noCredentialFacts();
  return { accounts, usage };
}

/** A whole lock system as a full run reads it: its accounts by id and by key, its links, its credential facts. */
export interface SystemState {
  byId: Map<string, Account>;
  byKey: Map<string, Account>;
  /** Accounts some identity took (the rest are orphans); filled while diffing. */
  claimed: Set<string>;
  links: Map<string, Link>;
  usage: CredentialFacts;
}

export async function observeSystem(ctx: EngineContext, sys: ObservedSystem): Promise<SystemState> {
  const accounts = await listAllAccounts(sys.driver);
  const byId = new Map(accounts.map((a) => [a.id, a]));
  const byKey = new Map<string, Account>();
  for (const a of accounts) if (a.externalId) byKey.set(a.externalId, a);
  const links = new Map((await listLinks(ctx.db, sys.name)).map((l) => [l.identityId, l]));
  const usage = canSetCredentialState(sys.caps, 'suspended') ? await credentialFacts(ctx.db, sys.name) : noCredentialFacts();
  return { byId, byKey, claimed: new Set(), links, usage };
}

/**
 * Accounts in one system that no identity owns: not linked, and not carrying an identity's key
 * (an account whose key belongs to an identity is not an orphan, even before it is linked).
 */
export async function observeUnowned(ctx: EngineContext, sys: ObservedSystem): Promise<Account[]> {
  const accounts = await listAllAccounts(sys.driver);
  const links = await listLinks(ctx.db, sys.name);
  const linked = new Set(links.map((l) => l.accountId));
  const unknown = accounts.filter((a) => !linked.has(a.id));
  const keys = await knownExternalIds(
    ctx.db,
    unknown.map((a) => a.externalId).filter((x): x is string => !!x),
  );
  return unknown.filter((a) => !(a.externalId && keys.has(a.externalId)));
}
