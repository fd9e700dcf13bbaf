import { openDb, type Db, type OpenDbOptions } from './db.js';
import { migrate } from './migrate.js';

export * from './db.js';
export * from './lock.js';
export * from './migrate.js';
export * from './identities.js';
export * from './bulk.js';
export * from './audit.js';
export * from './links.js';
export * from './runs.js';
export * from './incidents.js';
export * from './people.js';
export * from './queue-state.js';
export * from './budget.js';
export * from './offline.js';
export * from './scim.js';
export * from './audit-checkpoint.js';
export * from './access-exceptions.js';
export * from './requests.js';
export * from './reviews.js';
export * from './notifications.js';

/** Opens the store the runtime contract names (DATABASE_URL, else PGlite under the data dir) and migrates it. */
export async function openStore(opts: OpenDbOptions): Promise<Db> {
  const db = await openDb(opts);
  try {
    await migrate(db);
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
  return db;
}
