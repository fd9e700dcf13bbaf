import { afterEach, describe, expect, it } from 'vitest';
import type { LockDriver } from '../../../src/drivers/contract.js';
import { LockstepError } from '../../../src/domain/errors.js';
import { createDriver, knownDriverTypes, registerDriver, registerDriverLoader, unregisterDriver } from '../../../src/drivers/registry.js';
import { createConfiguredDriver, registerBuiltinDrivers } from '../../../src/runtime/drivers.js';

function fakeDriver(name: string): LockDriver {
  const nope = (): never => {
    throw new LockstepError('internal', 'not used');
  };
  return {
    name,
    capabilities: { validity: 'none', suspendAccount: false, credentialStates: false, accessEvents: 'none', deleteAccount: false },
    listAccessGroups: async () => [],
    listAccounts: async () => ({ items: [], next: null }),
    findAccount: async () => null,
    getAccount: async () => null,
    upsertAccount: nope,
    setAccountState: nope,
    deleteAccount: nope,
    grant: nope,
    revoke: nope,
    setCredentialState: nope,
    readAccessEvents: async () => ({ events: [], cursor: null }),
  };
}

async function failure(p: Promise<unknown>): Promise<LockstepError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LockstepError);
  return e as LockstepError;
}

describe('driver registry', () => {
  afterEach(() => {
    unregisterDriver('acme');
  });

  it('knows no driver until one is registered, and says so', async () => {
    expect(knownDriverTypes()).toEqual([]);
    const err = await failure(createDriver('simulator', { system: 'hq', options: {} }));
    expect(err).toMatchObject({ code: 'config', field: 'systems.hq.type' });
    expect(err.message).toContain('no driver types are registered');
  });

  it('imports a loader only when a system of its type is created, and once', async () => {
    let calls = 0;
    registerDriverLoader('lazy', async () => {
      calls++;
      return { type: 'lazy', create: (ctx) => fakeDriver(ctx.system) };
    });
    expect(knownDriverTypes()).toContain('lazy');
    expect(calls).toBe(0);
    expect((await createDriver('lazy', { system: 'a', options: {} })).name).toBe('a');
    expect((await createDriver('lazy', { system: 'b', options: {} })).name).toBe('b');
    expect(calls).toBe(1);
    expect(() => registerDriverLoader('lazy', async () => ({ type: 'lazy', create: () => fakeDriver('x') }))).toThrow(LockstepError);
  });

  it('refuses a loader whose factory is of another type', async () => {
    registerDriverLoader('odd', async () => ({ type: 'even', create: () => fakeDriver('x') }));
    const err = await failure(createDriver('odd', { system: 's', options: {} }));
    expect(err.message).toContain('did not return a factory of type "odd"');
  });

  it('refuses an unknown type as a config error naming it and the known ones', async () => {
    registerBuiltinDrivers();
    registerBuiltinDrivers(); // once is enough; again does nothing
    const err = await failure(createDriver('kaba-exos', { system: 'hq', options: {} }));
    expect(err.code).toBe('config');
    expect(err.field).toBe('systems.hq.type');
    expect(err.message).toContain('"kaba-exos"');
    expect(err.message).toContain('simulator');
    expect(err.message).toContain('gallagher');
  });

  it('registers a built-in type for every connector folder, and each loads a factory of its type', async () => {
    const { readdirSync, existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = join(import.meta.dirname, '../../../connectors');
    const folders = readdirSync(root).filter((d) => existsSync(join(root, d, 'index.ts')));
    registerBuiltinDrivers();
    expect(knownDriverTypes().sort()).toEqual(expect.arrayContaining(folders.sort()));
    for (const type of folders) {
      const mod = (await import(join(root, type, 'index.ts'))) as { factory?: { type: string } };
      expect(mod.factory?.type, `connectors/${type}/index.ts exports a factory of type ${type}`).toBe(type);
    }
  });

  it('creates third-party drivers that were registered, with the system context', async () => {
    registerDriver({ type: 'acme', create: (ctx) => fakeDriver(`${ctx.system}:${String(ctx.options.site)}`) });
    expect(knownDriverTypes()).toContain('acme');
    const d = await createDriver('acme', { system: 'plant', options: { site: 'north' } });
    expect(d.name).toBe('plant:north');
  });

  it('refuses to register a type twice unless asked to replace it', async () => {
    registerDriver({ type: 'acme', create: () => fakeDriver('one') });
    expect(() => registerDriver({ type: 'acme', create: () => fakeDriver('two') })).toThrow(LockstepError);
    registerDriver({ type: 'acme', create: () => fakeDriver('two') }, { replace: true });
    expect((await createDriver('acme', { system: 's', options: {} })).name).toBe('two');
    expect(unregisterDriver('acme')).toBe(true);
    expect((await failure(createDriver('acme', { system: 's', options: {} }))).code).toBe('config');
  });

  it('wraps a factory failure that is not a LockstepError', async () => {
    registerDriver({
      type: 'acme',
      create: () => {
        throw new Error('boom');
      },
    });
    const err = await failure(createDriver('acme', { system: 's', options: {} }));
    expect(err.message).toContain('boom');
  });

  it('loads the built-in simulator on demand and lets it validate its options', async () => {
    const d = await createConfiguredDriver('simulator', { system: 'lab', options: { url: 'http://127.0.0.1:7070' } });
    expect(d.name).toBe('lab');
    expect(d.capabilities.validity).toBe('membership');
    await d.close?.();
    const err = await failure(createConfiguredDriver('simulator', { system: 'lab', options: { url: 42 } }));
    expect(err).toMatchObject({ code: 'config', field: 'systems.lab.url' });
  });
});
