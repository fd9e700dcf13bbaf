import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * A full run takes an identity it read before from memory when the store lists it at the same
 * version and updatedAt (src/reconcile/identity-cache.ts), and reuses its evaluation on the same
 * terms (src/policy/evaluation-memo.ts). That is only right while every statement that changes
 * an identity bumps both: this test reads every SQL text in src/ that updates the identities table.
 */
const ROOT = join(import.meta.dirname, '../../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Each `UPDATE identities ... SET ...` up to its WHERE / FROM / RETURNING, with where it is. */
function identityUpdates(): Array<{ where: string; set: string }> {
  const out: Array<{ where: string; set: string }> = [];
  // migrations run when a process starts, before it has read anything
  for (const file of sources(join(ROOT, 'src')).filter((f) => !f.includes(join('store', 'migrations')))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/UPDATE\s+identities\b(?:\s+(?:AS\s+)?\w+)?\s+SET\b([\s\S]*?)(?:\bWHERE\b|\bFROM\b|\bRETURNING\b|`)/gi)) {
      const line = text.slice(0, m.index).split('\n').length;
      out.push({ where: `${relative(ROOT, file)}:${line}`, set: m[1] });
    }
    for (const m of text.matchAll(/INSERT\s+INTO\s+identities\b[\s\S]*?DO\s+UPDATE\s+SET\b([\s\S]*?)(?:\bWHERE\b|\bRETURNING\b|`)/gi)) {
      const line = text.slice(0, m.index).split('\n').length;
      out.push({ where: `${relative(ROOT, file)}:${line}`, set: m[1] });
    }
  }
  return out;
}

describe('writes to identities', () => {
  it('are found (the scan reads the store)', () => {
    expect(identityUpdates().length).toBeGreaterThanOrEqual(4);
  });

  it('each bump the version and set updated_at', () => {
    const missing = identityUpdates()
      .filter((u) => !/\bversion\s*=/.test(u.set) || !/\bupdated_at\s*=/.test(u.set))
      .map((u) => u.where);
    expect(missing).toEqual([]);
  });
});
