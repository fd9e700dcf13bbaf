import * as m001 from './001_core.js';
import * as m002 from './002_scim.js';
import * as m003 from './003_queue.js';
import * as m004 from './004_identity_lookups.js';
import * as m005 from './005_audit_pending.js';
import * as m006 from './006_revocation_budget.js';
import * as m008 from './008_queue_pending.js';
import * as m009 from './009_scim_keyed_by_id.js';
import * as m007 from './007_sponsor_lookups.js';
import * as m010 from './010_offline_pending.js';
import * as m011 from './011_budget_function.js';
import * as m012 from './012_budget_window.js';
import * as m013 from './013_access_exceptions.js';
import * as m014 from './014_access_requests.js';
import * as m015 from './015_access_reviews.js';
import * as m016 from './016_credential_holds.js';
import * as m017 from './017_held_lookups.js';
import * as m018 from './018_incident_lifecycle.js';
import * as m019 from './019_invariant_violations.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Versioned migrations, applied in order at start; the same SQL for PostgreSQL and PGlite. */
export const migrations: Migration[] = [
  { version: 1, name: 'core', sql: m001.sql },
  { version: 2, name: 'scim', sql: m002.sql },
  { version: 3, name: 'queue', sql: m003.sql },
  { version: 4, name: 'identity lookups', sql: m004.sql },
  { version: 5, name: 'audit pending', sql: m005.sql },
  { version: 6, name: 'revocation budget', sql: m006.sql + m006.heldSql },
  { version: 7, name: 'sponsor lookups', sql: m007.sql },
  { version: 8, name: 'queue pending', sql: m008.sql },
  { version: 9, name: 'scim keyed by id', sql: m009.sql },
  { version: 10, name: 'offline pending', sql: m010.sql },
  { version: 11, name: 'budget function', sql: m011.sql },
  { version: 12, name: 'budget window', sql: m012.sql },
  { version: 13, name: 'access exceptions', sql: m013.sql },
  { version: 14, name: 'access requests', sql: m014.sql },
  { version: 15, name: 'access reviews', sql: m015.sql },
  { version: 16, name: 'credential holds', sql: m016.sql },
  { version: 17, name: 'held lookups', sql: m017.sql },
  { version: 18, name: 'incident lifecycle', sql: m018.sql },
  { version: 19, name: 'invariant violations', sql: m019.sql },
];
