import type { AccessEvent, Account, AccountInput, AccountState, CredentialStatus, Validity } from '../domain/access.js';

export interface DriverCapabilities {
  /** Where a validity window can be stored: on each membership, on the account, or nowhere
   * (then the engine enforces it on schedule by revoking). */
  validity: 'membership' | 'account' | 'none';
  suspendAccount: boolean;
  /**
   * Which credential states lockstep can set: all of them (`true`), none (`false`), or only
   * these (a system whose keys can be cancelled but not suspended: `['lost', 'revoked']`).
   * Ask with canSetCredentialState.
   */
  credentialStates: boolean | readonly CredentialStatus[];
  accessEvents: 'cursor' | 'long-poll' | 'webhook' | 'none';
  /** Key/data-on-card systems that only learn of changes when a key revalidates. */
  offline?: { revalidationDays: number };
  /** Can delete accounts (the leaver policy `delete`). */
  deleteAccount: boolean;
  /**
   * The longest account fields the system stores (in UTF-16 code units, as JavaScript counts
   * `length`); longer ones it refuses. Only limits the system documents or enforces: a field left
   * out has none that lockstep knows of. The SCIM endpoint refuses a User over any configured
   * system's limit, and the conformance kit checks that a declared limit is accepted and
   * one character more refused.
   */
  limits?: AccountLimits;
}

/** AccountInput fields with a length limit in a lock system. */
export interface AccountLimits {
  displayName?: number;
  externalId?: number;
  email?: number;
}

export interface AccessGroupRef {
  ref: string;
  name: string;
}

/** Opaque cursor for listAccounts paging; null means "first page". */
export type Cursor = string | null;

export interface Page<T> {
  items: T[];
  /** Cursor of the next page, or null when this was the last. */
  next: Cursor;
}

/**
 * The contract every lock-system driver implements. All mutating calls are idempotent:
 * repeating one leaves the system as one call would. Errors are LockstepError with codes
 * auth / not_found / conflict / rate_limited / unavailable / timeout / validation.
 */
export interface LockDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  listAccessGroups(): Promise<AccessGroupRef[]>;
  /** Every account the system holds, with memberships and credentials, page by page. */
  listAccounts(cursor?: Cursor): Promise<Page<Account>>;
  findAccount(externalId: string): Promise<Account | null>;
  getAccount(accountId: string): Promise<Account | null>;
  /** Creates the account for externalId, or updates the one that has it. */
  upsertAccount(input: AccountInput): Promise<Account>;
  setAccountState(accountId: string, state: AccountState): Promise<void>;
  deleteAccount(accountId: string): Promise<void>;
  /** Ensures exactly one membership of the account in the group, with this validity. */
  grant(accountId: string, group: string, validity: Validity): Promise<void>;
  /** Removes every membership of the account in the group; no-op if there is none. */
  revoke(accountId: string, group: string): Promise<void>;
  setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void>;
  /** Events after the cursor (null: from now on, or the start of what the system keeps). */
  readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }>;
  close?(): Promise<void>;
}

/** What the registry passes to a driver factory: the system's block from lockstep.yaml. */
export interface DriverContext {
  /** The system's name in lockstep.yaml. */
  system: string;
  /** Driver-specific options, validated by the driver's own zod schema. */
  options: Record<string, unknown>;
  logger?: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void; error(o: object, msg?: string): void };
}

export interface DriverFactory {
  /** Driver type name in config (`simulator`, `gallagher`). */
  type: string;
  create(ctx: DriverContext): Promise<LockDriver> | LockDriver;
}

/**
 * What the conformance kit (src/drivers/conformance.ts) needs from a driver's test setup:
 * the driver, connected to a fake of its system over real HTTP, and levers on the fake that
 * the contract itself does not offer (issuing a card, simulating a swipe, injecting faults).
 */
export interface ConformanceHarness {
  driver: LockDriver;
  /** At least two access-group references that exist in the fake. */
  groups: string[];
  /** Issues a credential (card) to the account in the fake; returns the credential id the driver reports. */
  addCredential(accountId: string): Promise<string>;
  /** Makes the fake record a granted access event for that account and credential. */
  recordAccess(accountId: string, credentialId: string): Promise<void>;
  /** Creates `count` accounts directly in the fake (not through the driver), to test paging. */
  seedAccounts(count: number): Promise<void>;
  /** The fake answers the next `times` requests with this status (and Retry-After seconds, if given). */
  failNext(status: number, opts?: { times?: number; retryAfterSeconds?: number }): Promise<void>;
  teardown(): Promise<void>;
}

/** Whether a driver with these capabilities can put a credential into `state`. */
export function canSetCredentialState(caps: Pick<DriverCapabilities, 'credentialStates'>, state: CredentialStatus): boolean {
  return caps.credentialStates === true || (Array.isArray(caps.credentialStates) && caps.credentialStates.includes(state));
}
