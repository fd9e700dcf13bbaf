import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { NEBULA_SCOPE, startFakeNebula, type FakeNebula } from './fake/index.js';
import { nebulaServices, type PbOperation, type PbUser } from './proto.js';

/** The fake Nebula itself, spoken to over raw gRPC (not through the driver): what it refuses and how its keys behave. */

type Rpc = (req: unknown, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void;

let fake: FakeNebula | undefined;
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await fake?.close();
  fake = undefined;
});

async function token(f: FakeNebula, form: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(f.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: f.clientId, client_secret: f.clientSecret, scope: NEBULA_SCOPE, ...form }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function setup() {
  fake = await startFakeNebula();
  const t = (await token(fake)).body.access_token as string;
  const s = nebulaServices();
  const users = new s.UserService(fake.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Rpc>;
  const ops = new s.OperationService(fake.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Rpc>;
  const events = new s.EventService(fake.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Rpc>;
  clients.push(users, ops, events);
  const call = <T>(c: Record<string, Rpc>, method: string, req: unknown, bearer: string | null = t): Promise<T> => {
    const md = new grpc.Metadata();
    if (bearer) md.set('authorization', `Bearer ${bearer}`);
    return new Promise((resolve, reject) => c[method].call(c, req, md, (e, r) => (e ? reject(e) : resolve(r as T))));
  };
  const code = (p: Promise<unknown>) =>
    p.then(
      () => grpc.status.OK,
      (e: grpc.ServiceError) => e.code,
    );
  return { f: fake, users, ops, events, call, code };
}

describe('fake Nebula', () => {
  it('issues tokens only for the client credentials grant, the right secret and the nebula scope', async () => {
    fake = await startFakeNebula();
    expect((await token(fake)).status).toBe(200);
    expect((await token(fake, { client_secret: 'nope' })).status).toBe(401);
    expect((await token(fake, { scope: 'openid' })).body.error).toBe('invalid_scope');
    expect((await token(fake, { grant_type: 'password' })).body.error).toBe('unsupported_grant_type');
  });

  it('refuses calls without a valid bearer token as UNAUTHENTICATED', async () => {
    const { f, users, call, code } = await setup();
    const req = { parent: f.installation, page_size: 10, page_token: '' };
    expect(await code(call(users, 'ListUsers', req, null))).toBe(grpc.status.UNAUTHENTICATED);
    expect(await code(call(users, 'ListUsers', req, 'forged'))).toBe(grpc.status.UNAUTHENTICATED);
    expect(await code(call(users, 'ListUsers', req))).toBe(grpc.status.OK);
  });

  it('creates users under custom ids once, and needs an update mask to change one', async () => {
    const { f, users, call, code } = await setup();
    const u = await call<PbUser>(users, 'CreateUser', { parent: f.installation, user_id: 'E1', user: { given_name: 'Ada', family_name: 'Lovelace' } });
    expect([u.name, u.display_name, u.blocked]).toEqual([`${f.installation}/users/E1`, 'Ada Lovelace', false]);
    expect(await code(call(users, 'CreateUser', { parent: f.installation, user_id: 'E1', user: { given_name: 'Ada' } }))).toBe(grpc.status.ALREADY_EXISTS);
    expect(await code(call(users, 'CreateUser', { parent: f.installation, user_id: 'E2', user: {} }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await code(call(users, 'UpdateUser', { user: { name: u.name, given_name: 'Grace' } }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await code(call(users, 'CreateUser', { parent: 'installations/other', user: { given_name: 'X' } }))).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('marks a key outdated when access changes, and EncodeCardKey (a long-running operation) brings it up to date', async () => {
    const { f, users, ops, call, code } = await setup();
    const u = await call<PbUser>(users, 'CreateUser', { parent: f.installation, user_id: 'K1', user: { given_name: 'Key' } });
    expect(await code(call(users, 'EncodeCardKey', { name: `${u.name}/card-key`, encoder: 'enc' }))).toBe(grpc.status.FAILED_PRECONDITION);
    await call(users, 'AssignCardKey', { name: `${u.name}/card-key`, uid: '04AABBCCDDEEFF' });
    expect((await call<PbUser>(users, 'GetUser', { name: u.name })).card_key?.state).toBe('PENDING');
    await call(users, 'CreateUserAccessRight', { parent: u.name, user_access_right: { access_right: `${f.installation}/access-rights/office` } });
    expect((await call<PbUser>(users, 'GetUser', { name: u.name })).card_key?.outdated).toBe(true);
    expect(await code(call(users, 'EncodeCardKey', { name: `${u.name}/card-key` }))).toBe(grpc.status.INVALID_ARGUMENT);
    const op = await call<PbOperation>(users, 'EncodeCardKey', { name: `${u.name}/card-key`, encoder: `${f.installation}/encoders/desk` });
    expect(op.done).toBe(false);
    const done = await call<PbOperation>(ops, 'GetOperation', { name: op.name });
    expect([done.done, done.result]).toEqual([true, 'response']);
    const after = await call<PbUser>(users, 'GetUser', { name: u.name });
    expect([after.card_key?.state, after.card_key?.outdated]).toEqual(['ACTIVE', false]);
    expect(after.card_key?.expire_time).toBeTruthy();
    expect(f.offlineLockOpens(u.name, `${f.installation}/access-rights/office`)).toBe(true);
  });

  it('lists events only with the filters and ordering it supports', async () => {
    const { f, events, call, code } = await setup();
    const ok = { parent: f.installation, page_size: 10, page_token: '', filter: 'create_time >= "2030-01-01T00:00:00Z"', order_by: 'create_time' };
    expect(await code(call(events, 'ListEvents', ok))).toBe(grpc.status.OK);
    expect(await code(call(events, 'ListEvents', { ...ok, filter: 'type = "x"' }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await code(call(events, 'ListEvents', { ...ok, order_by: 'type' }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await code(call(events, 'ListEvents', { ...ok, page_token: 'bogus' }))).toBe(grpc.status.INVALID_ARGUMENT);
  });
});
