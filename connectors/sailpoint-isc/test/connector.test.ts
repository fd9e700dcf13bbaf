/**
 * The SailPoint ISC connector, each command run through the SDK's local harness (test/harness.ts)
 * against a real `lockstep serve`: real PostgreSQL and Redis, the embedded simulator as the lock
 * system, the example data-centre mappings and HR export. Nothing of lockstep is mocked.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, ServiceFixture } from '../../../test/helpers/serve.js';
import { harness, type Harness } from './harness.js';

const HERE = resolve(import.meta.dirname, '..');
const ROOT = resolve(HERE, '../..');
const installed = existsSync(join(HERE, 'node_modules/@sailpoint/connector-sdk'));
if (!installed) console.warn('connectors/sailpoint-isc: skipped, its dependencies are not installed (npm ci --prefix connectors/sailpoint-isc)');

const ADMIN = 'admin-token-sailpoint-0123456789abcdef';
const OPERATOR = 'sailpoint-operator-token-0123456789abcdef';
const VIEWER = 'sailpoint-viewer-token-0123456789abcdef';

describe.skipIf(!installed)('SailPoint ISC connector (through the SDK harness, against lockstep serve)', { timeout: 120_000 }, () => {
  const f = new ServiceFixture({ admin: ADMIN });
  let h: Harness;
  let sdk: typeof import('@sailpoint/connector-sdk');
  let config: Record<string, unknown>;
  const ctx = { name: 'lockstep doors', requestId: 'ISC-REQ-4711' };
  const people = new Map<string, string>(); // userName → identity id

  /** The ConnectorError a command fails with. */
  const failure = async (type: string, input: unknown, cfg = config) => {
    try {
      await h.exec(type, input, cfg, ctx);
    } catch (e) {
      return e as Error & { type?: string };
    }
    throw new Error(`${type} did not fail`);
  };
  const read = async (userName: string) =>
    (await h.exec('std:account:read', { identity: people.get(userName), key: { simple: { id: people.get(userName) } } }, config, ctx))[0];

  beforeAll(async () => {
    sdk = await import('@sailpoint/connector-sdk');
    const { connector } = await import('../src/index.js');
    h = harness(sdk, connector);
    await f.open();
    await copyFile(join(ROOT, 'mappings/examples/datacenter.yaml'), f.path('datacenter.yaml'));
    await copyFile(join(ROOT, 'mappings/examples/hr.csv'), f.path('hr.csv'));
    process.env.LOCKSTEP_TEST_SAILPOINT_TOKEN = OPERATOR;
    process.env.LOCKSTEP_TEST_SAILPOINT_VIEWER = VIEWER;
    await f.start(`mappings: [./datacenter.yaml]
systems:
  dc1: { type: simulator, embedded: { port: 0, stateFile: ./sim.json } }
sources:
  hr: { type: file, path: ./hr.csv, columns: { employeeId: externalId } }
auth:
  tokens:
    - { name: sailpoint, tokenEnv: LOCKSTEP_TEST_SAILPOINT_TOKEN, roles: [operator] }
    - { name: sailpoint-viewer, tokenEnv: LOCKSTEP_TEST_SAILPOINT_VIEWER, roles: [viewer] }
queue: { prefix: ${f.prefix} }
`);
    config = { baseUrl: f.url, token: OPERATOR };
    const r = await f.call('api/v1', 'GET', '/identities?limit=500');
    for (const p of r.json.identities) people.set(p.userName, p.id);
    // the start-up import is applied by the worker's full run: wait until it has applied, and nothing else applies
    await eventually(async () => {
      const runs = ((await f.call('api/v1', 'GET', '/runs')).json.runs ?? []) as { scope: string; status: string }[];
      return runs.some((r) => r.scope === 'full' && r.status === 'applied') && !runs.some((r) => r.status === 'applying' || r.status === 'planned');
    }, 'the start-up run applied');
  }, 120_000);

  afterAll(async () => {
    await f.close();
    delete process.env.LOCKSTEP_TEST_SAILPOINT_TOKEN;
    delete process.env.LOCKSTEP_TEST_SAILPOINT_VIEWER;
  });

  it('std:test-connection: passes with the operator token, names the missing role for a viewer one and the token for a wrong one', async () => {
    expect(await h.exec('std:test-connection', {}, config, ctx)).toEqual([{}]);
    const viewer = await failure('std:test-connection', {}, { baseUrl: f.url, token: VIEWER });
    expect(viewer).toBeInstanceOf(sdk.ConnectorError);
    expect(viewer.message).toMatch(/token:sailpoint-viewer\) has the roles viewer; the connector needs operator/);
    const wrong = await failure('std:test-connection', {}, { baseUrl: f.url, token: 'not-a-lockstep-token' });
    expect(wrong).toBeInstanceOf(sdk.ConnectorError);
    expect(wrong.message).toMatch(/^lockstep refused the source's token \(401/);
    expect((await failure('std:test-connection', {}, { token: OPERATOR })).message).toMatch(/baseUrl is missing/);
  });

  it('std:entitlement:list: every access group of the mappings, with its system, reference, class and class limits', async () => {
    const out = await h.exec('std:entitlement:list', { type: 'group' }, config, ctx);
    expect(out.map((e) => e.identity).sort()).toEqual([
      'dc1-cages',
      'dc1-cooling',
      'dc1-loading-dock',
      'dc1-lobby',
      'dc1-mmr',
      'dc1-offices',
      'dc1-perimeter',
      'dc1-power',
      'dc1-soc',
      'dc1-whitespace',
    ]);
    expect(out.find((e) => e.identity === 'dc1-power')).toEqual({
      identity: 'dc1-power',
      uuid: 'dc1-power',
      type: 'group',
      attributes: {
        id: 'dc1-power',
        name: 'DC1 power rooms (UPS, switchgear, generators)',
        system: 'dc1',
        ref: 'AG-POWER',
        protectionClass: 3,
        owner: null,
        maxValidityDays: 365,
        sponsorRequired: true,
      },
    });
    expect(out.find((e) => e.identity === 'dc1-perimeter').attributes).toMatchObject({ protectionClass: 1, maxValidityDays: null, sponsorRequired: false });
  });

  it('std:entitlement:read: one access group; an unknown one is a not-found ConnectorError', async () => {
    const [g] = await h.exec('std:entitlement:read', { identity: 'dc1-soc', key: { simple: { id: 'dc1-soc' } }, type: 'group' }, config, ctx);
    expect(g.attributes).toMatchObject({ id: 'dc1-soc', ref: 'AG-SOC', protectionClass: 3 });
    const e = await failure('std:entitlement:read', { identity: 'dc1-nowhere', key: { simple: { id: 'dc1-nowhere' } }, type: 'group' });
    expect(e).toBeInstanceOf(sdk.ConnectorError);
    expect(e.type).toBe(sdk.ConnectorErrorType.NotFound);
  });

  it('std:account:list and std:account:read: every person with the access groups the lock system holds for them, the same both ways', async () => {
    const list = await h.exec('std:account:list', {}, config, ctx);
    expect(list.length).toBe(people.size);
    const anna = list.find((a) => a.attributes.userName === 'anna.schmidt');
    expect(anna).toMatchObject({ identity: people.get('anna.schmidt'), uuid: 'anna.schmidt', disabled: false });
    expect(anna.attributes.accessGroups).toEqual(expect.arrayContaining(['dc1-perimeter', 'dc1-lobby', 'dc1-offices', 'dc1-power']));
    expect(anna.attributes).toMatchObject({ department: 'DC Operations', employeeType: 'Employee', pendingAccessGroups: [], deniedAccessGroups: [] });
    // Lena works at HQ: in lockstep, no door at DC1
    const lena = list.find((a) => a.attributes.userName === 'lena.richter');
    expect(lena.attributes.accessGroups).toEqual([]);
    for (const userName of ['anna.schmidt', 'julia.schulz', 'lena.richter']) {
      const one = await read(userName);
      expect(one.attributes.accessGroups, userName).toEqual(list.find((a) => a.attributes.userName === userName).attributes.accessGroups);
      expect(one.attributes.userName).toBe(userName);
    }
    const gone = await failure('std:account:read', { identity: 'nobody-here', key: { simple: { id: 'nobody-here' } } });
    expect(gone.type).toBe(sdk.ConnectorErrorType.NotFound);
  });

  it('std:account:update Add: becomes a pending lockstep access request naming the SailPoint request; granted once approved in lockstep', async () => {
    const id = people.get('lena.richter')!;
    const [out] = await h.exec(
      'std:account:update',
      { identity: id, key: { simple: { id } }, changes: [{ op: 'Add', attribute: 'accessGroups', value: 'dc1-loading-dock' }] },
      config,
      ctx,
    );
    expect(out.attributes.accessGroups).not.toContain('dc1-loading-dock');
    expect(out.attributes.pendingAccessGroups).toEqual(['dc1-loading-dock']);
    expect(out.results[0].messages[0].message).toMatch(/^dc1-loading-dock: requested in lockstep as [0-9a-f-]{36} until .*pending approval/);
    const pending = (await f.call('api/v1', 'GET', `/requests?identity=${id}&status=pending`)).json.requests;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ kind: 'accessGroup', target: 'dc1-loading-dock', requestedBy: 'token:sailpoint', status: 'pending' });
    expect(pending[0].justification).toBe(
      'SailPoint ISC source "lockstep doors" (request ISC-REQ-4711): grant dc1-loading-dock (DC1 loading dock and storage) to lena.richter for 90 days',
    );
    // the window: requestDays (90) from now
    expect(Math.round((Date.parse(pending[0].validUntil) - Date.now()) / 86_400_000)).toBe(90);

    // SailPoint retrying the same grant files nothing new
    const [again] = await h.exec(
      'std:account:update',
      { identity: id, key: { simple: { id } }, changes: [{ op: 'Add', attribute: 'accessGroups', value: ['dc1-loading-dock'] }] },
      config,
      ctx,
    );
    expect(again.results[0].messages[0].message).toBe(`dc1-loading-dock: already requested in lockstep as ${pending[0].id}, pending approval`);
    expect((await f.call('api/v1', 'GET', `/requests?identity=${id}`)).json.requests).toHaveLength(1);

    // approved in lockstep (by someone else than the connector's token: four-eyes), it is applied, and the account shows it
    const ok = await f.call('api/v1', 'POST', `/requests/${pending[0].id}/approve`, { comment: 'fine' });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    const granted = await eventually(async () => {
      const a = await read('lena.richter');
      return a.attributes.accessGroups.includes('dc1-loading-dock') && a;
    }, 'the approved request applied');
    expect(granted.attributes.pendingAccessGroups).toEqual([]);
  });

  it('std:account:update Add: the window is capped at the class maximum, so lockstep takes it', async () => {
    const id = people.get('julia.schulz')!;
    const [out] = await h.exec(
      'std:account:update',
      { identity: id, key: { simple: { id } }, changes: [{ op: 'Add', attribute: 'accessGroups', value: 'dc1-power' }] },
      { ...config, requestDays: '1000' },
      ctx,
    );
    expect(out.attributes.pendingAccessGroups).toEqual(['dc1-power']);
    const [r] = (await f.call('api/v1', 'GET', `/requests?identity=${id}&status=pending`)).json.requests;
    expect(r.justification).toMatch(/for 365 days$/);
    expect(Date.parse(r.validUntil)).toBeLessThanOrEqual(Date.now() + 365 * 86_400_000);
  });

  it('std:account:update Remove: becomes a lockstep access exception with SailPoint as the reason; the lock system loses the group', async () => {
    const id = people.get('anna.schmidt')!;
    const [out] = await h.exec(
      'std:account:update',
      { identity: id, key: { simple: { id } }, changes: [{ op: 'Remove', attribute: 'accessGroups', value: 'dc1-perimeter' }] },
      config,
      ctx,
    );
    expect(out.results[0].messages[0].message).toMatch(/^dc1-perimeter: denied in lockstep by exception [0-9a-f-]{36} until .*passes lockstep's guard$/);
    expect(out.attributes.deniedAccessGroups).toEqual(['dc1-perimeter']);
    const [ex] = (await f.call('api/v1', 'GET', `/exceptions?identity=${id}`)).json.exceptions;
    expect(ex).toMatchObject({
      accessGroupId: 'dc1-perimeter',
      createdBy: 'token:sailpoint',
      reason: 'SailPoint ISC source "lockstep doors" (request ISC-REQ-4711): revoke dc1-perimeter from anna.schmidt',
    });
    expect(Math.round((Date.parse(ex.until) - Date.now()) / 86_400_000)).toBe(365);
    await eventually(async () => !(await read('anna.schmidt')).attributes.accessGroups.includes('dc1-perimeter'), 'the revocation applied');
    const explain = (await f.call('api/v1', 'GET', `/identities/${id}/explain`)).json;
    expect(explain.denied).toEqual(
      expect.arrayContaining([expect.objectContaining({ accessGroupId: 'dc1-perimeter', exception: expect.objectContaining({ id: ex.id }) })]),
    );
    // a second revoke of the same group records nothing new
    const [again] = await h.exec(
      'std:account:update',
      { identity: id, key: { simple: { id } }, changes: [{ op: 'Remove', attribute: 'accessGroups', value: 'dc1-perimeter' }] },
      config,
      ctx,
    );
    expect(again.results[0].messages[0].message).toBe(`dc1-perimeter: already denied in lockstep by exception ${ex.id} until ${ex.until}`);
  });

  it("std:account:update: lockstep's 4xx errors become ConnectorErrors with its message; other attributes are read-only", async () => {
    const id = people.get('julia.schulz')!;
    const unknown = await failure('std:account:update', {
      identity: id,
      key: { simple: { id } },
      changes: [{ op: 'Add', attribute: 'accessGroups', value: 'dc1-nowhere' }],
    });
    expect(unknown).toBeInstanceOf(sdk.ConnectorError);
    expect(unknown.message).toBe('lockstep has no access group dc1-nowhere in its mappings (attribute accessGroups)');
    const refused = await failure('std:account:update', {
      identity: id,
      key: { simple: { id } },
      changes: [{ op: 'Remove', attribute: 'accessGroups', value: 'dc1-nowhere' }],
    });
    expect(refused).toBeInstanceOf(sdk.ConnectorError);
    expect(refused.message).toMatch(/^lockstep refused POST \/api\/v1\/exceptions \(400 validation: .*\) \(field accessGroup\)$/);
    const [out] = await h.exec(
      'std:account:update',
      { identity: id, key: { simple: { id } }, changes: [{ op: 'Set', attribute: 'department', value: 'Security' }] },
      config,
      ctx,
    );
    expect(out.results).toEqual([
      { attribute: 'department', messages: [{ level: 'WARN', message: "department is read-only: it comes from lockstep's identity sources" }] },
    ]);
    expect(out.attributes.department).toBe('Finance');
  });

  it('std:account:create: finds the lockstep person by userName and requests the groups; lockstep creates nobody', async () => {
    const [out] = await h.exec('std:account:create', { attributes: { userName: 'greta.wagner', accessGroups: ['dc1-cages'] } }, config, ctx);
    expect(out).toMatchObject({ identity: people.get('greta.wagner'), uuid: 'greta.wagner' });
    expect(out.attributes.pendingAccessGroups).toEqual(['dc1-cages']);
    const nobody = await failure('std:account:create', { attributes: { userName: 'zoe.unknown', accessGroups: ['dc1-cages'] } });
    expect(nobody.type).toBe(sdk.ConnectorErrorType.NotFound);
    expect(nobody.message).toMatch(/lockstep has no person zoe.unknown: lockstep does not create people/);
  });

  it('the zip for ISC (npm run pack-zip): index.js, a CommonJS bundle that runs the commands alone, and connector-spec.json', async () => {
    const { name, version } = JSON.parse(await readFile(join(HERE, 'package.json'), 'utf8')) as { name: string; version: string };
    await promisify(execFile)('npm', ['run', 'pack-zip'], { cwd: HERE, timeout: 60_000 });
    const zip = await readFile(join(HERE, 'dist', `${name}-${version}.zip`));
    expect(zip.subarray(0, 2).toString()).toBe('PK');
    expect(zip.includes('index.js')).toBe(true);
    expect(zip.includes('connector-spec.json')).toBe(true);
    const spec = JSON.parse(await readFile(join(HERE, 'connector-spec.json'), 'utf8'));
    // the bundle carries its own copy of the SDK: the config comes as ISC's runtime gives it, CONNECTOR_CONFIG (base64 JSON)
    const bundle = createRequire(import.meta.url)(join(HERE, 'dist/index.js')) as { connector: import('@sailpoint/connector-sdk').Connector };
    expect([...bundle.connector.handlers.keys()].filter((k) => k !== 'std:spec:read').sort()).toEqual([...spec.commands].sort());
    process.env.CONNECTOR_CONFIG = Buffer.from(JSON.stringify(config)).toString('base64');
    try {
      const alone = harness(sdk, bundle.connector);
      expect(await alone.exec('std:test-connection', {}, {}, ctx)).toEqual([{}]);
      expect((await alone.exec('std:entitlement:list', { type: 'group' }, {}, ctx)).length).toBe(10);
    } finally {
      delete process.env.CONNECTOR_CONFIG;
    }
  });

  it("the SDK's dev server (npm run dev: spcx run dist/dev.js) answers POST {type, input, config} with the command's output", async () => {
    await promisify(execFile)('npm', ['run', 'build:dev'], { cwd: HERE, timeout: 60_000 });
    const port = await new Promise<number>((ok) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const a = srv.address() as { port: number };
        srv.close(() => ok(a.port));
      });
    });
    // spcx also starts `tsc --watch` for TypeScript projects when it finds tsc on PATH: not wanted here
    const PATH = (process.env.PATH ?? '')
      .split(delimiter)
      .filter((d) => !d.includes('node_modules'))
      .join(delimiter);
    const spcx = spawn(process.execPath, [join(HERE, 'node_modules/@sailpoint/connector-sdk/dist/bin/spcx.js'), 'run', 'dist/dev.js', String(port)], {
      cwd: HERE,
      env: { ...process.env, PATH },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await new Promise<void>((ok, fail) => {
        spcx.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && ok());
        spcx.once('exit', (code) => fail(new Error(`spcx exited (${code})`)));
      });
      const post = async (type: string, input: unknown, cfg: unknown) => {
        // spcx routes `/*path` (express 5): a path is needed, a bare `/` answers 404
        const res = await fetch(`http://127.0.0.1:${port}/invoke`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type, input, config: cfg }),
        });
        return { status: res.status, text: await res.text() };
      };
      const id = people.get('julia.schulz')!;
      const r = await post('std:account:read', { identity: id, key: { simple: { id } } }, config);
      expect(r.status).toBe(200);
      const lines = r.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; data: any });
      expect(lines).toHaveLength(1);
      expect(lines[0]!.type).toBe('output');
      expect(lines[0]!.data).toMatchObject({ identity: id, uuid: 'julia.schulz', attributes: { department: 'Finance' } });
      expect(lines[0]!.data.attributes.accessGroups).toEqual(expect.arrayContaining(['dc1-perimeter', 'dc1-offices']));
      const bad = await post('std:test-connection', {}, { baseUrl: f.url, token: 'not-a-lockstep-token' });
      expect(bad.status).toBe(500);
      expect(bad.text).toMatch(/^generic error: [\s\S]*lockstep refused the source's token \(401/);
    } finally {
      process.kill(-spcx.pid!, 'SIGTERM');
    }
  });
});
