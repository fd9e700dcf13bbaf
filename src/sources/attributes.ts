/**
 * The attributes the configured sources provide beyond the identity's own (issue 26, mapping
 * lint): SCIM's extra attributes (any SCIM client may push), an HR export's unmapped columns
 * (its header: a missing file provides only its mapped columns), an Entra source's
 * `attributes.<name>` targets. A rule reading anything else matches nobody.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse/sync';
import { resolveFromConfig, type LoadedConfig } from '../config/index.js';
import { SCIM_ATTRIBUTES } from '../domain/attributes.js';
import { compileUserMapping, OBJECT_ID_ATTRIBUTE } from './entra/mapping.js';
import type { FileSourceConfig } from './file/config.js';

/** An export's column names (CSV header, or a JSON export's first record's keys); [] when it cannot be read. */
async function exportColumns(path: string, cfg: FileSourceConfig): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const format = cfg.format ?? (/\.json$/i.test(path) ? 'json' : 'csv');
  try {
    if (format === 'json') {
      const data = JSON.parse(text) as unknown;
      const first: unknown = Array.isArray(data) ? (data as unknown[])[0] : (data as { records?: unknown[] } | null)?.records?.[0];
      return first && typeof first === 'object' ? Object.keys(first) : [];
    }
    const header = parseCsv(text.split(/\r?\n/, 1)[0] ?? '', { delimiter: cfg.delimiter, bom: true, trim: true })[0];
    return header ?? [];
  } catch {
    return [];
  }
}

export async function sourceAttributeNames(loaded: LoadedConfig): Promise<string[]> {
  const out = new Set<string>(SCIM_ATTRIBUTES);
  for (const src of Object.values(loaded.config.sources)) {
    if (src.type === 'file') {
      for (const c of await exportColumns(resolveFromConfig(loaded, src.path), src)) if (!src.ignore.includes(c)) out.add(src.columns[c] ?? c);
      for (const target of Object.values(src.columns)) out.add(target);
    } else if (src.type === 'entra') {
      out.add(OBJECT_ID_ATTRIBUTE);
      for (const r of compileUserMapping(src).rules) out.add(r.target.startsWith('attributes.') ? r.target.slice('attributes.'.length) : r.target);
    }
  }
  return [...out];
}
