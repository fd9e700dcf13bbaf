import { z } from 'zod';
import type { AccessEvent, Account, AccountInput, AccountState, CredentialStatus, Validity } from '../../src/domain/access.js';
import { LockstepError } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, LockDriver, Page } from '../../src/drivers/contract.js';
import { HttpClient, notFoundAsNull, type HttpClientOptions } from '../../src/drivers/http.js';
import type { SimAccount, SimAccountCompact, SimEvent, SimGroup } from './state.js';
import { SIM_LIMITS } from './server.js';

/** The simulator system's options in lockstep.yaml. */
export const simulatorOptionsSchema = z.object({
  /** Root URL of the simulator, e.g. http://127.0.0.1:7070 (the API is under /api). */
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  apiKey: z.string().min(1).optional(),
  // Numbers may arrive as strings when lockstep.yaml takes them from ${ENV}.
  timeoutMs: z.coerce.number().int().min(100).max(300_000).optional(),
  maxAttempts: z.coerce.number().int().min(1).max(10).optional(),
  /** Accounts per listAccounts page (the simulator serves at most 1000). Default 500. */
  pageSize: z.coerce.number().int().min(1).max(1000).optional(),
});
export type SimulatorDriverOptions = z.infer<typeof simulatorOptionsSchema>;

const EVENT_PAGE = 1000;

export class SimulatorDriver implements LockDriver {
  readonly name: string;
  /** What the simulator plays (its profile, read by discover()); until then a full online system. */
  capabilities: DriverCapabilities = {
    validity: 'membership',
    suspendAccount: true,
    credentialStates: true,
    accessEvents: 'cursor',
    deleteAccount: true,
    // what the simulator's API refuses beyond (server.ts)
    limits: { displayName: SIM_LIMITS.displayName, externalId: SIM_LIMITS.externalId, email: SIM_LIMITS.email },
  };

  /**
   * Reads the simulator's profile (GET /api/capabilities) and declares those capabilities: a
   * simulator that stores no windows, cannot suspend accounts or has offline keys is driven as
   * such a system would be. An older simulator without the route is a full online system.
   */
  async discover(): Promise<DriverCapabilities> {
    const p = await notFoundAsNull(
      this.http.get<{ validity: 'membership' | 'account' | 'none'; suspendAccount: boolean; offline: { revalidationDays: number } | null }>('capabilities'),
    );
    if (p) {
      this.capabilities = {
        ...this.capabilities,
        validity: p.validity,
        suspendAccount: p.suspendAccount,
        ...(p.offline ? { offline: { revalidationDays: p.offline.revalidationDays } } : {}),
      };
    }
    return this.capabilities;
  }
  private readonly http: HttpClient;
  private readonly pageSize: number;

  /** `http` overrides are for tests (backoff timing); options come validated from createSimulatorDriver. */
  constructor(name: string, opts: SimulatorDriverOptions, http: Partial<HttpClientOptions> = {}) {
    this.name = name;
    this.pageSize = opts.pageSize ?? 500;
    this.http = new HttpClient({
      baseUrl: new URL('api/', opts.url.endsWith('/') ? opts.url : `${opts.url}/`).href,
      headers: opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {},
      timeoutMs: opts.timeoutMs,
      maxAttempts: opts.maxAttempts,
      ...http,
    });
  }

  async listAccessGroups(): Promise<AccessGroupRef[]> {
    const r = await this.http.get<{ items: SimGroup[] }>('groups');
    return r.items.map((g) => ({ ref: g.id, name: g.name }));
  }

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    // compact: everything toAccount reads, without timestamps nobody here uses (half the bytes to parse)
    const r = await this.http.get<{ items: SimAccountCompact[]; next: string | null }>('accounts', {
      query: { limit: this.pageSize, after: cursor, view: 'compact' },
    });
    return { items: r.items.map(fromCompact), next: r.next };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const r = await this.http.get<{ items: SimAccount[] }>('accounts', { query: { externalId } });
    return r.items[0] ? toAccount(r.items[0]) : null;
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const a = await notFoundAsNull(this.http.get<SimAccount>(`accounts/${enc(accountId)}`));
    return a ? toAccount(a) : null;
  }

  async upsertAccount(input: AccountInput): Promise<Account> {
    const fields = {
      displayName: input.displayName,
      firstName: input.firstName ?? null,
      lastName: input.lastName ?? null,
      email: input.email ?? null,
      ...(input.validity ? { validity: input.validity } : {}),
    };
    const existing = await this.findAccount(input.externalId);
    if (existing) return toAccount(await this.http.patch<SimAccount>(`accounts/${enc(existing.id)}`, fields));
    try {
      return toAccount(await this.http.post<SimAccount>('accounts', { externalId: input.externalId, ...fields }));
    } catch (e) {
      // Another worker created it between our lookup and our POST: update that one instead.
      if (!(e instanceof LockstepError && e.code === 'conflict')) throw e;
      const raced = await this.findAccount(input.externalId);
      if (!raced) throw e;
      return toAccount(await this.http.patch<SimAccount>(`accounts/${enc(raced.id)}`, fields));
    }
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    // PATCH of a state is idempotent, so it may be retried like a PUT.
    await this.http.patch(`accounts/${enc(accountId)}`, { state }, { idempotent: true });
  }

  async deleteAccount(accountId: string): Promise<void> {
    await notFoundAsNull(this.http.delete(`accounts/${enc(accountId)}`));
  }

  async grant(accountId: string, group: string, validity: Validity): Promise<void> {
    // a system that stores no windows gets none: the engine grants when a window begins and revokes when it ends
    const body = this.capabilities.validity === 'membership' ? { from: validity.from, until: validity.until } : {};
    await this.http.put(`accounts/${enc(accountId)}/memberships/${enc(group)}`, body);
  }

  async revoke(accountId: string, group: string): Promise<void> {
    // A missing account holds no membership: the revocation has nothing left to do.
    await notFoundAsNull(this.http.delete(`accounts/${enc(accountId)}/memberships/${enc(group)}`));
  }

  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    await this.http.patch(`accounts/${enc(accountId)}/credentials/${enc(credentialId)}`, { status: state }, { idempotent: true });
  }

  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    const r = await this.http.get<{ items: SimEvent[]; next: string }>('events', { query: { after: cursor, limit: EVENT_PAGE } });
    return {
      events: r.items.map((e) => ({
        id: e.id,
        at: e.at,
        accountId: e.accountId,
        credentialId: e.credentialId,
        door: e.door ?? e.group,
        granted: e.granted,
      })),
      cursor: r.next,
    };
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** Validates the options (errors name the field, e.g. `systems.sim.url`) and builds the driver. */
export function createSimulatorDriver(ctx: DriverContext): SimulatorDriver {
  const r = simulatorOptionsSchema.safeParse(ctx.options);
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = issue.path.join('.');
    throw new LockstepError('config', `system ${ctx.system} (simulator): ${key || 'options'}: ${issue.message}`, {
      field: `systems.${ctx.system}${key ? `.${key}` : ''}`,
    });
  }
  return new SimulatorDriver(ctx.system, r.data);
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/**
 * A compact listing item already is an Account, field for field and in the same order as
 * toAccount builds one: taken as it is (a full reconciliation lists every account). A server
 * that ignored `view=compact` sent full accounts: those go through toAccount.
 */
function fromCompact(a: SimAccountCompact | SimAccount): Account {
  return 'createdAt' in a ? toAccount(a) : a;
}

function toAccount(a: SimAccount | SimAccountCompact): Account {
  return {
    id: a.id,
    externalId: a.externalId,
    displayName: a.displayName,
    state: a.state,
    memberships: a.memberships.map((m) => ({ group: m.group, from: m.from, until: m.until })),
    credentials: a.credentials.map((c) => ({
      id: c.id,
      type: c.type,
      number: c.number,
      status: c.status,
      lastUsedAt: c.lastUsedAt,
      ...(c.keyExpiresAt !== undefined ? { keyExpiresAt: c.keyExpiresAt } : {}),
    })),
    validity: { from: a.validity.from, until: a.validity.until },
  };
}
