import * as m001 from './001_core.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Versioned migrations, applied in order at start; the same SQL for PostgreSQL and PGlite. */
export const migrations: Migration[] = [{ version: 1, name: 'core', sql: m001.sql }];
