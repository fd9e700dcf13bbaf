import { LockstepError } from '../domain/errors.js';
import type { Account } from '../domain/access.js';
import type { Operation, OperationResult } from '../domain/plan.js';
import { canSetCredentialState } from '../drivers/contract.js';
import { appendAudit } from '../store/audit.js';
import { listIncidents, openIncident, withNis2Clock, type Incident, type IncidentView } from '../store/incidents.js';
import { credentialHolder, linkedIdentityOf } from '../store/links.js';
import { applyOperations } from './execute.js';
import type { EngineContext } from './types.js';

export interface LostCredentialRequest {
  system: string;
  credentialId: string;
  /** Speeds up the look-up; found by scanning the system's accounts when absent. */
  accountId?: string;
  actor: string;
  note?: string;
  /** `lost` where the system knows that state, else `suspended`. */
  state?: 'lost' | 'suspended';
}

export interface LostCredentialOutcome {
  incident: IncidentView;
  result: OperationResult;
  account: { id: string; displayName: string; externalId: string | null };
}

/** The account holding the credential (from the request, the store's hint, or a scan of the system). */
export async function findCredentialHolder(
  ctx: EngineContext,
  req: Pick<LostCredentialRequest, 'system' | 'credentialId' | 'accountId'>,
): Promise<Account | null> {
  const driver = ctx.drivers.get(req.system)!;
  if (req.accountId) return driver.getAccount(req.accountId);
  const holder = await credentialHolder(ctx.db, req.system, req.credentialId);
  if (holder) {
    const a = await driver.getAccount(holder);
    if (a?.credentials.some((c) => c.id === req.credentialId)) return a;
  }
  let cursor: string | null = null;
  do {
    const page = await driver.listAccounts(cursor);
    const hit = page.items.find((a) => a.credentials.some((c) => c.id === req.credentialId));
    if (hit) return hit;
    cursor = page.next;
  } while (cursor);
  return null;
}

/**
 * The incident of a lost credential: the one already open for it (a second report, or the queue
 * retrying one the lock system refused: a new one would restart the NIS2 clock), else a new one.
 */
export async function lostCredentialIncident(
  ctx: EngineContext,
  req: LostCredentialRequest,
  account: Account,
  identityId: string | null,
  data: Record<string, unknown> = {},
): Promise<{ incident: Incident; opened: boolean }> {
  const open = (await listIncidents(ctx.db, { status: 'open' })).find(
    (i) => i.kind === 'lost-credential' && i.system === req.system && i.credentialId === req.credentialId,
  );
  if (open) return { incident: open, opened: false };
  const cred = account.credentials.find((c) => c.id === req.credentialId);
  const incident = await openIncident(ctx.db, {
    kind: 'lost-credential',
    system: req.system,
    accountId: account.id,
    credentialId: req.credentialId,
    identityId,
    data: { reportedBy: req.actor, note: req.note ?? null, credentialType: cred?.type ?? null, holder: account.displayName, ...data },
  });
  return { incident, opened: true };
}

/**
 * Kills a lost credential at once: marks it lost (or suspended) in the lock system with the
 * executor's retries, writes the audit entry, and opens an incident that shows the NIS2
 * reporting clock. The incident is opened even if the lock system is down, so the clock runs.
 */
export async function markCredentialLost(ctx: EngineContext, req: LostCredentialRequest): Promise<LostCredentialOutcome> {
  const driver = ctx.drivers.get(req.system);
  if (!driver) throw new LockstepError('not_found', `no system named ${req.system} is configured`, { field: 'system' });
  const state = req.state ?? 'lost';
  if (!canSetCredentialState(driver.capabilities, state)) {
    const can = driver.capabilities.credentialStates;
    throw new LockstepError(
      'precondition',
      `${req.system} cannot set a credential ${state}${Array.isArray(can) ? ` (it can: ${can.join(', ')})` : ''}: give revokeAccessUntil (CLI: --revoke-access-until DATE) to revoke its holder's access in ${req.system} instead`,
      {
        field: req.state ? 'state' : 'system',
      },
    );
  }
  const account = await findCredentialHolder(ctx, req);
  if (!account) throw new LockstepError('not_found', `no account in ${req.system} holds credential ${req.credentialId}`, { field: 'credentialId' });
  const cred = account.credentials.find((c) => c.id === req.credentialId)!;
  const identityId = await linkedIdentityOf(ctx.db, req.system, account.id);
  const op: Operation = {
    key: `${req.system}|set_credential_state|${account.id}|${req.credentialId}`,
    kind: 'set_credential_state',
    system: req.system,
    identityId,
    externalId: account.externalId,
    userName: null,
    accountId: account.id,
    credentialId: req.credentialId,
    credentialState: state,
    reason: {
      cause: 'lost-credential',
      text: `${cred.type} ${cred.number ?? cred.id} of ${account.displayName} reported lost by ${req.actor}${req.note ? `: ${req.note}` : ''}`,
    },
    revocation: true,
  };
  const { incident: incidentBase, opened } = await lostCredentialIncident(ctx, req, account, identityId);
  const [result] = await applyOperations(ctx, [op], { runId: null, actor: req.actor });
  if (opened) {
    await appendAudit(ctx.db, [
      {
        actor: req.actor,
        action: 'incident.opened',
        subject: incidentBase.id,
        data: { kind: 'lost-credential', system: req.system, credentialId: req.credentialId, accountId: account.id, applied: result.status },
      },
    ]);
  }
  return {
    incident: withNis2Clock(incidentBase, ctx.now()),
    result: result,
    account: { id: account.id, displayName: account.displayName, externalId: account.externalId },
  };
}
