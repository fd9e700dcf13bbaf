import type { Db } from './db.js';
import { migrations as all, type Migration } from './migrations/index.js';

/**
 * Applies pending migrations, each in its own transaction. An advisory lock keeps two
 * processes starting at once from applying the same migration twice.
 */
export async function migrate(db: Db, migrations: Migration[] = all): Promise<number[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(4242001)');
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      for (const stmt of splitStatements(m.sql)) await tx.query(stmt);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}

/**
 * Splits a migration into statements at a semicolon that ends a line, except inside a
 * dollar-quoted body (a function's `$fn$ … $fn$`); our migrations have no semicolons in literals.
 */
function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (const line of sql.split('\n')) {
    for (const m of line.matchAll(/\$[A-Za-z_]*\$/g)) quote = quote === null ? m[0] : quote === m[0] ? null : quote;
    cur += `${line}\n`;
    if (quote === null && /;\s*$/.test(line)) {
      out.push(cur.replace(/;\s*$/, ''));
      cur = '';
    }
  }
  out.push(cur);
  return out.map((s) => (/\$[A-Za-z_]*\$/.test(s) ? s.trim() : s.replace(/^\s*--.*$/gm, '').trim())).filter((s) => s.length > 0);
}
