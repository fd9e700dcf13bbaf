/**
 * lockstep as a SailPoint Identity Security Cloud source (a SaaS connector).
 *
 * - entitlements (type `group`) are lockstep's access groups, with their system, reference,
 *   protection class, owner and class limits;
 * - accounts are lockstep's identities; `accessGroups` (the entitlement attribute) lists the
 *   access groups the lock systems hold for the person; pending requests and exceptions in
 *   force are shown beside it;
 * - a grant (std:account:update Add, or std:account:create with accessGroups) becomes a lockstep
 *   access request (POST /api/v1/requests), which waits for the group's owner (and sponsor) in
 *   lockstep; a revocation (Remove) becomes a lockstep access exception (POST /api/v1/exceptions),
 *   whose revocation passes lockstep's mass-revocation guard. Nothing is written to a lock
 *   system by this connector: lockstep's policy, class limits, approvals and guard still apply.
 */
import {
  AttributeChangeOp,
  ConnectorError,
  ConnectorErrorType,
  createConnector,
  logger,
  readConfig,
  ResultMessageLevel,
  type Attributes,
  type AttributeChange,
  type Connector,
  type Context,
  type Result,
  type StdAccountCreateInput,
  type StdAccountReadOutput,
} from '@sailpoint/connector-sdk';
import {
  checkConfig,
  LockstepClient,
  type AccessException,
  type AccessGroup,
  type AccessRequest,
  type CheckedConfig,
  type Person,
  type ReportRow,
} from './lockstep.js';

/** The account attribute that carries the entitlements (the spec's groupAttribute). */
export const GROUP_ATTRIBUTE = 'accessGroups';
const DAY = 86_400_000;

async function client(): Promise<{ cfg: CheckedConfig; api: LockstepClient }> {
  const cfg = checkConfig(await readConfig());
  return { cfg, api: new LockstepClient(cfg) };
}

function groupOutput(g: AccessGroup) {
  return {
    identity: g.id,
    uuid: g.id,
    type: 'group',
    attributes: {
      id: g.id,
      name: g.name,
      system: g.system,
      ref: g.ref,
      protectionClass: g.protectionClass,
      owner: g.owner,
      maxValidityDays: g.maxValidityDays,
      sponsorRequired: g.sponsorRequired,
    },
  };
}

interface Holdings {
  held: Set<string>;
  pending: AccessRequest[];
  denied: AccessException[];
}

function accountOutput(p: Person, h: Holdings): StdAccountReadOutput {
  const attributes: Attributes = {
    id: p.id,
    userName: p.userName,
    displayName: p.displayName,
    externalId: p.externalId,
    source: p.source,
    employeeType: p.employeeType,
    department: p.department,
    jobTitle: p.jobTitle,
    site: p.site,
    leaver: p.leaver,
    [GROUP_ATTRIBUTE]: [...h.held].sort(),
    pendingAccessGroups: [...new Set(h.pending.flatMap((r) => (r.kind === 'accessGroup' ? [r.target] : r.groups)))].sort(),
    pendingRequests: h.pending.map((r) => `${r.id} ${r.kind === 'accessGroup' ? r.target : `role ${r.target}`} until ${r.validUntil}`),
    deniedAccessGroups: [...new Set(h.denied.map((e) => e.accessGroupId))].sort(),
    exceptions: h.denied.map((e) => `${e.id} ${e.accessGroupId} until ${e.until}`),
  };
  return { identity: p.id, uuid: p.userName, disabled: p.leaver || p.deleted, attributes };
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** One person's account: explain (who, what the lock systems hold), their pending requests and exceptions. */
async function readAccount(api: LockstepClient, who: string, groups?: AccessGroup[]): Promise<StdAccountReadOutput> {
  const [x, all, pending, exceptions] = await Promise.all([
    api.explain(who),
    groups ? Promise.resolve(groups) : api.accessGroups(),
    api.pendingRequests(who),
    api.exceptions(who),
  ]);
  if (x.identity.deletedAt) throw new ConnectorError(`lockstep: ${who} was deleted by their source`, ConnectorErrorType.NotFound);
  const byRef = new Map(all.map((g) => [`${g.system}\u0000${g.ref}`, g.id]));
  const held = new Set<string>();
  for (const s of x.systems)
    for (const m of s.account?.memberships ?? []) {
      const id = byRef.get(`${s.system}\u0000${m.group}`);
      if (id) held.add(id);
    }
  const i = x.identity;
  const person: Person = {
    id: i.id,
    userName: i.userName,
    displayName: str(i.displayName),
    externalId: i.externalId,
    source: i.source,
    employeeType: str(i.employeeType),
    department: str(i.department),
    jobTitle: str(i.jobTitle),
    site: str(i.site),
    leaver: x.leaver,
    deleted: false,
  };
  return accountOutput(person, { held, pending, denied: exceptions.filter((e) => e.identityId === i.id) });
}

function values(c: AttributeChange): string[] {
  const v = c.value;
  const list = Array.isArray(v) ? v : v === null || v === undefined ? [] : [v];
  return list.map((x) => String(x)).filter((x) => x !== '');
}

function who(context: Context): string {
  const ref = context.requestId ?? context.invocationId ?? context.id;
  return `SailPoint ISC${context.name ? ` source "${context.name}"` : ''}${ref ? ` (request ${ref})` : ''}`;
}

/** Files a lockstep access request for a grant, unless one is pending already. */
async function grant(
  api: LockstepClient,
  cfg: CheckedConfig,
  context: Context,
  personId: string,
  userName: string,
  groupId: string,
  groups: AccessGroup[],
  pending: AccessRequest[],
): Promise<Result> {
  const g = groups.find((x) => x.id === groupId);
  if (!g) throw new ConnectorError(`lockstep has no access group ${groupId} in its mappings (attribute ${GROUP_ATTRIBUTE})`);
  const open = pending.find((r) => r.identityId === personId && r.kind === 'accessGroup' && r.target === groupId);
  if (open)
    return {
      attribute: GROUP_ATTRIBUTE,
      messages: [{ level: ResultMessageLevel.WARN, message: `${groupId}: already requested in lockstep as ${open.id}, pending approval` }],
    };
  const days = Math.min(cfg.requestDays, g.maxValidityDays ?? cfg.requestDays);
  // a few minutes short of the class maximum: lockstep counts from its own now, a moment later
  const until = new Date(Date.now() + days * DAY - (days === g.maxValidityDays ? 10 * 60_000 : 0)).toISOString();
  const r = await api.createRequest({
    identity: personId,
    accessGroup: groupId,
    until,
    justification: `${who(context)}: grant ${groupId} (${g.name}) to ${userName} for ${days} days`,
  });
  logger.info({ request: r.id, identity: personId, accessGroup: groupId }, 'lockstep access request filed');
  return {
    attribute: GROUP_ATTRIBUTE,
    messages: [
      {
        level: ResultMessageLevel.WARN,
        message: `${groupId}: requested in lockstep as ${r.id} until ${r.validUntil}; pending approval by the group's owner there`,
      },
    ],
  };
}

/** Records a lockstep access exception for a revocation, unless one is in force already. */
async function revoke(
  api: LockstepClient,
  cfg: CheckedConfig,
  context: Context,
  personId: string,
  userName: string,
  groupId: string,
  denied: AccessException[],
): Promise<Result> {
  const open = denied.find((e) => e.identityId === personId && e.accessGroupId === groupId);
  if (open)
    return {
      attribute: GROUP_ATTRIBUTE,
      messages: [{ level: ResultMessageLevel.WARN, message: `${groupId}: already denied in lockstep by exception ${open.id} until ${open.until}` }],
    };
  const until = new Date(Date.now() + cfg.revokeDays * DAY).toISOString();
  const { exception, run } = await api.createException({
    identity: personId,
    accessGroup: groupId,
    until,
    reason: `${who(context)}: revoke ${groupId} from ${userName}`,
  });
  logger.info({ exception: exception.id, run: run.runId, identity: personId, accessGroup: groupId }, 'lockstep access exception recorded');
  return {
    attribute: GROUP_ATTRIBUTE,
    messages: [
      {
        level: ResultMessageLevel.WARN,
        message: `${groupId}: denied in lockstep by exception ${exception.id} until ${exception.until}; the revocation passes lockstep's guard`,
      },
    ],
  };
}

/** Applies entitlement changes (Add, Remove, Set on accessGroups); other attributes are lockstep's sources', not SailPoint's. */
async function applyChanges(context: Context, personWho: string, changes: AttributeChange[]): Promise<StdAccountReadOutput & { results: Result[] }> {
  const { cfg, api } = await client();
  const groups = await api.accessGroups();
  const before = await readAccount(api, personWho, groups);
  const personId = before.identity!;
  const userName = String(before.attributes.userName);
  const [pending, denied] = await Promise.all([api.pendingRequests(personId), api.exceptions(personId)]);
  const held = new Set((before.attributes[GROUP_ATTRIBUTE] as string[]) ?? []);
  const results: Result[] = [];
  for (const c of changes) {
    if (c.attribute !== GROUP_ATTRIBUTE) {
      results.push({
        attribute: c.attribute,
        messages: [{ level: ResultMessageLevel.WARN, message: `${c.attribute} is read-only: it comes from lockstep's identity sources` }],
      });
      continue;
    }
    let add: string[] = [];
    let remove: string[] = [];
    if (c.op === AttributeChangeOp.Add) add = values(c);
    else if (c.op === AttributeChangeOp.Remove) remove = values(c);
    else if (c.op === AttributeChangeOp.Set) {
      const want = new Set(values(c));
      add = [...want].filter((g) => !held.has(g));
      remove = [...held].filter((g) => !want.has(g));
    } else throw new ConnectorError(`unsupported change op ${String(c.op)} on ${c.attribute}`);
    for (const g of add) results.push(await grant(api, cfg, context, personId, userName, g, groups, pending));
    for (const g of remove) results.push(await revoke(api, cfg, context, personId, userName, g, denied));
  }
  const after = await readAccount(api, personId, groups);
  return { ...after, results };
}

/** The lockstep person a create names: by id, userName or externalId (lockstep creates nobody: its sources do). */
async function findPerson(api: LockstepClient, input: StdAccountCreateInput): Promise<Person> {
  const a = (input.attributes ?? {}) as Record<string, unknown>;
  const keys = [input.identity, a.id, a.userName, a.externalId].filter((x): x is string => typeof x === 'string' && x !== '');
  for (const k of keys) {
    const { identities } = await api.people(k);
    const hit = identities.find((p) => !p.deleted && (p.id === k || p.userName === k || p.externalId === k));
    if (hit) return hit;
  }
  throw new ConnectorError(
    `lockstep has no person ${keys.join(' / ') || '(no userName given)'}: lockstep does not create people; they come from its sources (HR, Entra ID, SCIM)`,
    ConnectorErrorType.NotFound,
  );
}

export const connector: Connector = createConnector()
  .stdTestConnection(async (_context, _input, res) => {
    const { api } = await client();
    const me = await api.me();
    if (!me.roles.includes('operator'))
      throw new ConnectorError(
        `the source's token (${me.actor}) has the roles ${me.roles.join(', ') || 'none'}; the connector needs operator (to request access for anyone and record exceptions)`,
      );
    await api.accessGroups();
    res.send({});
  })
  .stdEntitlementList(async (_context, input, res) => {
    if (input.type && input.type !== 'group') throw new ConnectorError(`unknown entitlement type ${input.type}: lockstep has only "group" (access groups)`);
    const { api } = await client();
    for (const g of await api.accessGroups()) res.send(groupOutput(g));
  })
  .stdEntitlementRead(async (_context, input, res) => {
    const { api } = await client();
    const g = (await api.accessGroups()).find((x) => x.id === input.identity);
    if (!g) throw new ConnectorError(`lockstep has no access group ${input.identity}`, ConnectorErrorType.NotFound);
    res.send(groupOutput(g));
  })
  .stdAccountList(async (_context, _input, res) => {
    const { api } = await client();
    const [people, rows, pending, denied] = await Promise.all([api.people(), api.report(), api.pendingRequests(), api.exceptions()]);
    const byId = new Map<string, Person>(people.identities.filter((p) => !p.deleted).map((p) => [p.id, p]));
    // beyond lockstep's page of 500 people, everyone who holds a door is still listed (from the report)
    const held = new Map<string, Set<string>>();
    for (const r of rows) {
      if (!r.identityId || !r.accessGroupId) continue;
      if (!held.has(r.identityId)) held.set(r.identityId, new Set());
      held.get(r.identityId)!.add(r.accessGroupId);
      if (!byId.has(r.identityId) && r.userName) {
        byId.set(r.identityId, {
          id: r.identityId,
          userName: r.userName,
          displayName: r.displayName ?? null,
          externalId: '',
          source: '',
          employeeType: r.employeeType ?? null,
          department: r.department ?? null,
          jobTitle: null,
          site: null,
          leaver: false,
          deleted: false,
        });
      }
    }
    if (people.more) logger.warn('lockstep has more than 500 people: those beyond the first 500 without any door are not listed (read or create finds them)');
    for (const p of byId.values()) {
      res.send(
        accountOutput(p, {
          held: held.get(p.id) ?? new Set(),
          pending: pending.filter((r) => r.identityId === p.id),
          denied: denied.filter((e) => e.identityId === p.id),
        }),
      );
    }
  })
  .stdAccountRead(async (_context, input, res) => {
    const { api } = await client();
    res.send(await readAccount(api, input.identity));
  })
  .stdAccountCreate(async (context, input, res) => {
    const { api } = await client();
    const p = await findPerson(api, input);
    const groups = ([] as unknown[])
      .concat((input.attributes as Record<string, unknown> | undefined)?.[GROUP_ATTRIBUTE] ?? [])
      .map(String)
      .filter(Boolean);
    const out = await applyChanges(context, p.id, groups.length ? [{ op: AttributeChangeOp.Add, attribute: GROUP_ATTRIBUTE, value: groups }] : []);
    res.send(out);
  })
  .stdAccountUpdate(async (context, input, res) => {
    res.send(await applyChanges(context, input.identity, input.changes ?? []));
  });
