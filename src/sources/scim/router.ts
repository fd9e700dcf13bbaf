/**
 * The SCIM 2.0 endpoint (RFC 7644), mounted at /scim/v2: /Users, /Groups, the discovery
 * endpoints, and errors as RFC 7644 §3.12 bodies. After every committed write it calls
 * onChange with the identities that changed, so reconciliation starts at once.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Db } from '../../store/db.js';
import { findInputProblem, findPathProblem } from '../../domain/input.js';
import { createAuthenticator } from './auth.js';
import type { ScimConfig } from './config.js';
import { badRequest, errorBody, notFound, ScimError, scimErrorOf } from './errors.js';
import { resourceChecker } from './limits.js';
import { compileFilter } from './filter.js';
import { parseProjection, project, projects, type Projection } from './projection.js';
import type { GroupRow, MemberRow, UserRow } from '../../store/scim.js';
import { isObject, type JsonObject } from './resource.js';
import { allSchemas, groupResourceType, schemaRepresentation, URN, userResourceType, type ResourceTypeDef } from './schemas.js';
import { etagOf, parseSortBy, ScimService, type Changes, type ListParams } from './service.js';

export interface ScimRouterDeps {
  db: Db;
  config: ScimConfig;
  /** Called after each committed write with the identities it changed. */
  onChange: (ids: string[], hint: { leaver: boolean; pendingAt?: number }) => Promise<void> | void;
  /**
   * Each write records the identities it changes as pending in its own transaction (see
   * ScimServiceOptions.markPending); onChange then gets `pendingAt`.
   */
  markPending?: boolean;
  logger?: Logger;
  /** Where SCIM_TOKEN is read from (tests pass their own). */
  env?: NodeJS.ProcessEnv;
  /** Clock for meta timestamps (tests). */
  now?: () => Date;
}

/** Routes with parameters, so a badly encoded segment is named after its parameter. */
const PARAM_ROUTES = ['/Users/:id', '/Groups/:id', '/ResourceTypes/:name', '/Schemas/:id'];

const SCIM_JSON = 'application/scim+json';
/** RFC 9110: token "/" token *( OWS ";" OWS token "=" ( token / quoted-string ) ). */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
const WELL_FORMED_MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED}))*[ \\t]*$`);

function send(res: Response, status: number, body?: unknown, etag?: string): void {
  res.status(status);
  if (etag) res.set('ETag', etag);
  if (body === undefined) {
    res.end();
    return;
  }
  res.type(SCIM_JSON).send(JSON.stringify(body));
}

function sendError(res: Response, e: ScimError): void {
  if (e.httpStatus === 401) res.set('WWW-Authenticate', 'Bearer realm="lockstep-scim"');
  send(res, e.httpStatus, e.body());
}

/** A query parameter as one string (the first, when repeated). */
function qp(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  const first: unknown = Array.isArray(v) ? (v as unknown[])[0] : v;
  return typeof first === 'string' ? first : undefined;
}

function baseUrl(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}${req.baseUrl}`;
}

/** jsonb keeps keys in its own order; responses put schemas, id and externalId first and meta last. */
function ordered(r: JsonObject, extra: JsonObject, location: string): JsonObject {
  const { schemas, id, externalId, meta, ...rest } = r;
  return {
    schemas: schemas ?? null,
    id: id ?? null,
    ...(externalId !== undefined ? { externalId } : {}),
    ...rest,
    ...extra,
    meta: { ...(isObject(meta) ? meta : {}), location },
  };
}

function renderUser(row: UserRow, base: string): JsonObject {
  const { groups, ...r } = row.resource;
  const rendered = Array.isArray(groups)
    ? groups.filter(isObject).map((g) => ({ value: g.value ?? null, $ref: `${base}/Groups/${String(g.value)}`, display: g.display ?? null, type: 'direct' }))
    : undefined;
  return ordered(r, rendered ? { groups: rendered } : {}, `${base}/Users/${row.id}`);
}

function renderGroup(row: GroupRow, members: MemberRow[] | null, base: string): JsonObject {
  return ordered(
    row.resource,
    {
      ...(members && members.length
        ? {
            members: members.map((m) => ({
              value: m.user_id,
              $ref: `${base}/Users/${m.user_id}`,
              ...(m.display ? { display: m.display } : {}),
              type: 'User',
            })),
          }
        : {}),
    },
    `${base}/Groups/${row.id}`,
  );
}

interface ListRequest {
  filter?: string;
  startIndex?: number;
  count?: number;
  sortBy?: string;
  sortOrder?: string;
  attributes?: string;
  excludedAttributes?: string;
}

function intParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw badRequest('invalidValue', `${name} must be an integer`, name);
  // 1e21 is an integer to JavaScript, but not to PostgreSQL's OFFSET (it prints as "1e+21")
  if (!Number.isSafeInteger(n))
    throw badRequest('invalidValue', `${name} must be an integer between ${-Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`, name);
  return n;
}

function listFromQuery(req: Request): ListRequest {
  return {
    filter: qp(req, 'filter'),
    startIndex: intParam(qp(req, 'startIndex'), 'startIndex'),
    count: intParam(qp(req, 'count'), 'count'),
    sortBy: qp(req, 'sortBy'),
    sortOrder: qp(req, 'sortOrder'),
    attributes: qp(req, 'attributes'),
    excludedAttributes: qp(req, 'excludedAttributes'),
  };
}

/** A SearchRequest body (RFC 7644 §3.4.3): the same parameters, attributes as arrays. */
function listFromSearch(body: unknown): ListRequest {
  if (!isObject(body)) throw badRequest('invalidSyntax', 'the request body must be a JSON object');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === URN.searchRequest.toLowerCase())) {
    throw badRequest('invalidSyntax', `"schemas" must list ${URN.searchRequest}`, 'schemas');
  }
  const list = (v: unknown, name: string) => {
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',');
    if (typeof v === 'string') return v;
    throw badRequest('invalidValue', `${name} must be an array of attribute names`, name);
  };
  const str = (v: unknown, name: string) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw badRequest('invalidValue', `${name} must be a string`, name);
    return v;
  };
  return {
    filter: str(body.filter, 'filter'),
    startIndex: intParam(body.startIndex, 'startIndex'),
    count: intParam(body.count, 'count'),
    sortBy: str(body.sortBy, 'sortBy'),
    sortOrder: str(body.sortOrder, 'sortOrder'),
    attributes: list(body.attributes, 'attributes'),
    excludedAttributes: list(body.excludedAttributes, 'excludedAttributes'),
  };
}

export function createScimRouter(deps: ScimRouterDeps): express.Router {
  const { config } = deps;
  const log = deps.logger?.child({ component: 'scim' });
  const service = new ScimService({
    db: deps.db,
    source: config.source,
    now: deps.now,
    checkResource: resourceChecker(),
    markPending: deps.markPending ?? false,
  });
  const auth = createAuthenticator(config, deps.env ?? process.env);
  if (!auth.configured) log?.warn('no SCIM token (scim.tokens, SCIM_TOKEN) and no scim.jwt configured: every SCIM request will be refused');
  const maxResults = config.maxResults;
  const router = express.Router();

  router.use(async (req, res, next) => {
    const outcome = await auth.authenticate(req.get('authorization'));
    if (!outcome.ok) {
      log?.info({ method: req.method, path: req.path, reason: outcome.reason }, 'scim request refused');
      sendError(res, new ScimError(401, outcome.reason));
      return;
    }
    res.locals.principal = outcome.principal;
    next();
  });

  // Hostile input is refused before anything reads it: ids that are not valid percent-encoding,
  // and NUL characters, lone surrogates (PostgreSQL stores neither) or absurd nesting anywhere.
  const refuse = (where: { field: string; reason: string } | null) => {
    if (where) throw badRequest('invalidValue', `${where.field} ${where.reason}`, where.field);
  };
  router.use((req, _res, next) => {
    refuse(findPathProblem(req.path, PARAM_ROUTES) ?? findInputProblem(req.query, '', 4));
    next();
  });
  // A media type must be well formed (RFC 9110 8.3.1) before the body is read as one: express's
  // matcher reads `application/json;;` as JSON, a type a strict client or proxy would refuse.
  router.use((req, _res, next) => {
    const type = req.get('content-type');
    if (type !== undefined && !WELL_FORMED_MEDIA_TYPE.test(type)) {
      throw new ScimError(
        415,
        `Content-Type ${JSON.stringify(type)} is not a well-formed media type (type/subtype, then ; name=value parameters): send ${SCIM_JSON} or application/json`,
      );
    }
    next();
  });
  router.use(express.json({ type: ['application/json', SCIM_JSON], limit: config.maxBodyBytes, strict: true }));
  router.use((req, _res, next) => {
    if (req.body !== undefined) refuse(findInputProblem(req.body));
    next();
  });

  const requireBody = (req: Request): unknown => {
    if (req.body !== undefined) return req.body;
    const type = req.get('content-type');
    if (type) throw new ScimError(415, `Content-Type ${type} is not supported: send ${SCIM_JSON} or application/json`);
    throw badRequest('invalidSyntax', 'a JSON request body is required');
  };

  const notify = async (changes: Changes, context: string): Promise<void> => {
    const leavers = [...changes.leavers];
    const changed = [...changes.changed];
    try {
      const at = changes.pendingAt !== undefined ? { pendingAt: changes.pendingAt } : {};
      if (leavers.length) await deps.onChange(leavers, { leaver: true, ...at });
      if (changed.length) await deps.onChange(changed, { leaver: false, ...at });
    } catch (e) {
      // The write is committed; the periodic full reconciliation picks the change up.
      log?.error({ err: e, context, identities: [...leavers, ...changed] }, 'scim onChange failed; the next full reconciliation will catch up');
    }
  };

  const listParams = (rt: ResourceTypeDef, l: ListRequest): ListParams & { startIndex: number } => {
    const filter = l.filter !== undefined && l.filter.trim() !== '' ? compileFilter(rt, l.filter) : null;
    let sort: ListParams['sort'] = null;
    if (l.sortBy) {
      const order = (l.sortOrder ?? 'ascending').toLowerCase();
      if (order !== 'ascending' && order !== 'descending') throw badRequest('invalidValue', 'sortOrder must be ascending or descending', 'sortOrder');
      sort = { ref: parseSortBy(rt, l.sortBy), descending: order === 'descending' };
    }
    const startIndex = Math.max(1, l.startIndex ?? 1);
    const count = Math.min(maxResults, Math.max(0, l.count ?? maxResults));
    return { filter, sort, offset: startIndex - 1, limit: count, startIndex };
  };

  const listResponse = (total: number, startIndex: number, resources: Array<Record<string, unknown>>) => ({
    schemas: [URN.listResponse],
    totalResults: total,
    itemsPerPage: resources.length,
    startIndex,
    Resources: resources,
  });

  // ---- Users ------------------------------------------------------------------------

  const listUsers = async (req: Request, res: Response, l: ListRequest) => {
    const p = listParams(userResourceType, l);
    const proj = parseProjection(userResourceType, l.attributes, l.excludedAttributes);
    const { total, rows } = await service.listUsers(p);
    const base = baseUrl(req);
    send(
      res,
      200,
      listResponse(
        total,
        p.startIndex,
        rows.map((r) => project(userResourceType, renderUser(r, base), proj)),
      ),
    );
  };

  const projectionOf = (req: Request, rt: ResourceTypeDef): Projection => parseProjection(rt, qp(req, 'attributes'), qp(req, 'excludedAttributes'));

  router.get('/Users', (req, res) => listUsers(req, res, listFromQuery(req)));
  router.post('/Users/.search', (req, res) => listUsers(req, res, listFromSearch(requireBody(req))));

  router.post('/Users', async (req, res) => {
    const r = await service.createUser(requireBody(req));
    await notify(r.changes, 'POST /Users');
    const body = project(userResourceType, renderUser(r.row, baseUrl(req)), projectionOf(req, userResourceType));
    res.set('Location', `${baseUrl(req)}/Users/${r.row.id}`);
    send(res, 201, body, etagOf(r.row.version));
  });

  router.get('/Users/:id', async (req, res) => {
    const row = await service.getUser(req.params.id);
    if (!row) throw notFound(`User ${req.params.id} not found`);
    const etag = etagOf(row.version);
    if (noneMatch(req.get('if-none-match'), row.version)) return send(res, 304, undefined, etag);
    send(res, 200, project(userResourceType, renderUser(row, baseUrl(req)), projectionOf(req, userResourceType)), etag);
  });

  router.put('/Users/:id', async (req, res) => {
    const r = await service.replaceUser(req.params.id, requireBody(req), req.get('if-match'));
    await notify(r.changes, 'PUT /Users');
    send(res, 200, project(userResourceType, renderUser(r.row, baseUrl(req)), projectionOf(req, userResourceType)), etagOf(r.row.version));
  });

  router.patch('/Users/:id', async (req, res) => {
    const r = await service.patchUser(req.params.id, requireBody(req), req.get('if-match'));
    await notify(r.changes, 'PATCH /Users');
    send(res, 200, project(userResourceType, renderUser(r.row, baseUrl(req)), projectionOf(req, userResourceType)), etagOf(r.row.version));
  });

  router.delete('/Users/:id', async (req, res) => {
    const r = await service.deleteUser(req.params.id, req.get('if-match'));
    await notify(r.changes, 'DELETE /Users');
    send(res, 204);
  });

  // ---- Groups -----------------------------------------------------------------------

  const groupBodies = async (rows: GroupRow[], proj: Projection, base: string): Promise<JsonObject[]> => {
    const members = projects(proj, 'members') ? await service.membersOf(rows.map((r) => r.id)) : null;
    return rows.map((r) => project(groupResourceType, renderGroup(r, members ? (members.get(r.id) ?? []) : null, base), proj));
  };

  const listGroups = async (req: Request, res: Response, l: ListRequest) => {
    const p = listParams(groupResourceType, l);
    const proj = parseProjection(groupResourceType, l.attributes, l.excludedAttributes);
    const { total, rows } = await service.listGroups(p);
    send(res, 200, listResponse(total, p.startIndex, await groupBodies(rows, proj, baseUrl(req))));
  };

  const oneGroup = async (req: Request, row: GroupRow, proj: Projection = projectionOf(req, groupResourceType)) =>
    (await groupBodies([row], proj, baseUrl(req)))[0];

  router.get('/Groups', (req, res) => listGroups(req, res, listFromQuery(req)));
  router.post('/Groups/.search', (req, res) => listGroups(req, res, listFromSearch(requireBody(req))));

  router.post('/Groups', async (req, res) => {
    const r = await service.createGroup(requireBody(req));
    await notify(r.changes, 'POST /Groups');
    res.set('Location', `${baseUrl(req)}/Groups/${r.row.id}`);
    send(res, 201, await oneGroup(req, r.row), etagOf(r.row.version));
  });

  router.get('/Groups/:id', async (req, res) => {
    const row = await service.getGroup(req.params.id);
    if (!row) throw notFound(`Group ${req.params.id} not found`);
    const etag = etagOf(row.version);
    if (noneMatch(req.get('if-none-match'), row.version)) return send(res, 304, undefined, etag);
    send(res, 200, await oneGroup(req, row), etag);
  });

  router.put('/Groups/:id', async (req, res) => {
    const r = await service.replaceGroup(req.params.id, requireBody(req), req.get('if-match'));
    await notify(r.changes, 'PUT /Groups');
    send(res, 200, await oneGroup(req, r.row), etagOf(r.row.version));
  });

  router.patch('/Groups/:id', async (req, res) => {
    const r = await service.patchGroup(req.params.id, requireBody(req), req.get('if-match'));
    await notify(r.changes, 'PATCH /Groups');
    // Entra: "Update to the group PATCH request should yield an HTTP 204"; a body only when asked for.
    if (qp(req, 'attributes') === undefined && qp(req, 'excludedAttributes') === undefined) return send(res, 204, undefined, etagOf(r.row.version));
    send(res, 200, await oneGroup(req, r.row), etagOf(r.row.version));
  });

  router.delete('/Groups/:id', async (req, res) => {
    const r = await service.deleteGroup(req.params.id, req.get('if-match'));
    await notify(r.changes, 'DELETE /Groups');
    send(res, 204);
  });

  // ---- discovery (RFC 7644 §4) --------------------------------------------------------

  router.get('/ServiceProviderConfig', (req, res) => {
    send(res, 200, serviceProviderConfig(config, baseUrl(req)));
  });

  const resourceTypeBody = (rt: ResourceTypeDef, base: string) => ({
    schemas: [URN.resourceType],
    id: rt.name,
    name: rt.name,
    endpoint: rt.endpoint,
    description: rt.description,
    schema: rt.schema.id,
    ...(rt.extensions.length ? { schemaExtensions: rt.extensions.map((e) => ({ schema: e.id, required: false })) } : {}),
    meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/${rt.name}` },
  });

  router.get('/ResourceTypes', (req, res) => {
    const base = baseUrl(req);
    send(
      res,
      200,
      listResponse(
        2,
        1,
        [userResourceType, groupResourceType].map((rt) => resourceTypeBody(rt, base)),
      ),
    );
  });
  router.get('/ResourceTypes/:name', (req, res) => {
    const rt = [userResourceType, groupResourceType].find((t) => t.name.toLowerCase() === req.params.name.toLowerCase());
    if (!rt) throw notFound(`ResourceType ${req.params.name} not found`);
    send(res, 200, resourceTypeBody(rt, baseUrl(req)));
  });

  router.get('/Schemas', (req, res) => {
    const base = baseUrl(req);
    send(
      res,
      200,
      listResponse(
        allSchemas.length,
        1,
        allSchemas.map((s) => schemaRepresentation(s, `${base}/Schemas/${s.id}`)),
      ),
    );
  });
  router.get('/Schemas/:id', (req, res) => {
    const s = allSchemas.find((x) => x.id.toLowerCase() === req.params.id.toLowerCase());
    if (!s) throw notFound(`Schema ${req.params.id} not found`);
    send(res, 200, schemaRepresentation(s, `${baseUrl(req)}/Schemas/${s.id}`));
  });

  router.all('/Bulk', () => {
    throw new ScimError(501, 'bulk operations are not supported (see /ServiceProviderConfig)');
  });

  // RFC 7644 §3.11: a provider that does not support /Me answers 501 (a token names a client, not a person)
  router.all(/^\/Me(\/.*)?$/i, () => {
    throw new ScimError(501, '/Me is not supported: lockstep authenticates SCIM clients, not the users they provision');
  });

  router.use((req) => {
    throw notFound(`no SCIM endpoint ${req.method} ${req.path}`);
  });

  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const known = scimErrorOf(err, config.maxBodyBytes);
    if (known) return sendError(res, known);
    log?.error({ err, method: req.method, path: req.path }, 'scim request failed');
    send(res, 500, errorBody(500, 'internal error'));
  });

  return router;
}

/** If-None-Match: true when the client's copy is current (answer 304). */
function noneMatch(header: string | undefined, version: number): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//i, '') === `"${version}"`);
}

export function serviceProviderConfig(config: ScimConfig, base: string): JsonObject {
  return {
    schemas: [URN.serviceProviderConfig],
    documentationUri: 'https://github.com/lockstep/lockstep/blob/main/src/sources/scim/README.md',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: config.maxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'Authentication with a bearer token (a configured secret token, or an OAuth 2 access token when scim.jwt is set).',
        specUri: 'https://www.rfc-editor.org/info/rfc6750',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}
