import { LockstepError } from '../domain/errors.js';
import type { AccessException } from '../domain/governance.js';
import { canSetCredentialState } from '../drivers/contract.js';
import {
  findCredentialHolder,
  lostCredentialIncident,
  markCredentialLost,
  type EngineContext,
  type LostCredentialOutcome,
  type LostCredentialRequest,
} from '../reconcile/index.js';
import { appendAudit } from '../store/audit.js';
import { withNis2Clock } from '../store/incidents.js';
import { linkedIdentityOf } from '../store/links.js';
import { createAccessException, futureInstant } from './exceptions.js';

export interface LostReport extends LostCredentialRequest {
  /**
   * Where the system cannot block the credential itself (Abloy Keyless has no way to block a
   * phone): revoke its holder's access in that system until this date instead, one access
   * exception per access group they hold there, so the lost credential opens nothing lockstep
   * granted. Ignored where the system can block the credential.
   */
  revokeAccessUntil?: string;
}

export interface LostReportOutcome extends LostCredentialOutcome {
  /** The fallback's access exceptions, when the system could not block the credential itself. */
  revokedAccess?: { until: string; identityId: string; exceptions: Array<{ id: string; accessGroupId: string }> };
}

/**
 * Kills a lost credential at once. Where the lock system can block it, that is done
 * (markCredentialLost). Where it cannot and the reporter asks for it, every access group its
 * holder has in that system is denied by an access exception until `revokeAccessUntil`, with
 * the lost credential as the reason; the caller then reconciles the holder (the revocations go
 * through the guard and the budget like any other, and offline locks report when they learn
 * them). Either way an incident with its NIS2 clocks is opened.
 */
export async function reportLostCredential(ctx: EngineContext, req: LostReport): Promise<LostReportOutcome> {
  const driver = ctx.drivers.get(req.system);
  const state = req.state ?? 'lost';
  if (!driver || canSetCredentialState(driver.capabilities, state) || req.revokeAccessUntil === undefined) return markCredentialLost(ctx, req);

  const until = futureInstant(ctx, req.revokeAccessUntil, 'revokeAccessUntil');
  const account = await findCredentialHolder(ctx, req);
  if (!account) throw new LockstepError('not_found', `no account in ${req.system} holds credential ${req.credentialId}`, { field: 'credentialId' });
  const identityId = await linkedIdentityOf(ctx.db, req.system, account.id);
  if (!identityId) {
    throw new LockstepError('precondition', `account ${account.id} in ${req.system} is linked to no identity: revoke its access in ${req.system} itself`, {
      field: 'credentialId',
    });
  }
  const cred = account.credentials.find((c) => c.id === req.credentialId)!;
  const held = new Set(account.memberships.map((m) => m.group));
  const groups = [...ctx.policy.accessGroups.values()].filter((g) => g.system === req.system && held.has(g.ref));
  const what = `${cred.type} ${cred.number ?? cred.id} of ${account.displayName}`;
  const exceptions: AccessException[] = [];
  for (const g of groups) {
    const { exception } = await createAccessException(ctx, {
      who: identityId,
      accessGroupId: g.id,
      until,
      reason: `${what} reported lost by ${req.actor}${req.note ? ` (${req.note})` : ''}; ${req.system} cannot block it, so its holder's access there is revoked until ${until}`,
      actor: req.actor,
      sourceRef: `credential:${req.system}:${req.credentialId}`,
    });
    exceptions.push(exception);
  }
  const { incident, opened } = await lostCredentialIncident(ctx, req, account, identityId, { accessRevokedUntil: until });
  if (opened) {
    await appendAudit(ctx.db, [
      {
        actor: req.actor,
        action: 'incident.opened',
        subject: incident.id,
        data: {
          kind: 'lost-credential',
          system: req.system,
          credentialId: req.credentialId,
          accountId: account.id,
          applied: 'access-revoked',
          accessGroups: groups.map((g) => g.id),
          until,
        },
      },
    ]);
  }
  return {
    incident: withNis2Clock(incident, ctx.now()),
    result: {
      key: `${req.system}|set_credential_state|${account.id}|${req.credentialId}`,
      status: 'skipped',
      attempts: 0,
      at: ctx.now().toISOString(),
      error: {
        code: 'precondition',
        message: `${req.system} cannot block the credential itself: its holder's access there is revoked until ${until} instead`,
        retryable: false,
      },
    },
    account: { id: account.id, displayName: account.displayName, externalId: account.externalId },
    revokedAccess: { until, identityId, exceptions: exceptions.map((e) => ({ id: e.id, accessGroupId: e.accessGroupId })) },
  };
}
