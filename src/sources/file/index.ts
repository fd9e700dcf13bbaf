import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { identityInputSchema, type IdentityInput } from '../../domain/identity.js';
import { LockstepError } from '../../domain/errors.js';
import type { Db } from '../../store/db.js';
import { appendAudit } from '../../store/audit.js';
import { countIdentities, listIdentities, markIdentityDeleted } from '../../store/identities.js';
import { upsertIdentities } from '../../store/bulk.js';
import type { FileSourceConfig } from './config.js';

export * from './config.js';

/** A row that could not be imported: where it is and why. It is skipped; nothing else is affected. */
export interface RowError {
  file: string;
  /** 1-based line in the CSV file, or the 1-based record index for JSON. */
  line: number;
  /** The export's column (or JSON key) at fault, and its 1-based position where known. */
  column: string | null;
  columnIndex: number | null;
  message: string;
  externalId: string | null;
}

export interface FileSyncResult {
  source: string;
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  leavers: number;
  errors: RowError[];
  /** Why absence-based leavers were not applied this time (export too small, unidentifiable bad row). */
  leaversWithheld: string | null;
  changedIds: string[];
  leaverIds: string[];
}

/** Identity fields a column can map to; anything else lands in `attributes`. */
const CORE = new Set(Object.keys(identityInputSchema.shape));
const LIST_FIELDS = new Set(['groups', 'roles']);

function parseBool(v: string): boolean | string {
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'y', 'active'].includes(s)) return true;
  if (['false', '0', 'no', 'n', 'inactive', 'disabled'].includes(s)) return false;
  return v; // left as is: the schema names the field and rejects it
}

interface RawRecord {
  line: number;
  values: Map<string, { value: unknown; index: number | null }>;
}

function readCsv(text: string, cfg: FileSourceConfig, file: string, errors: RowError[]): RawRecord[] {
  let rows: Array<{ record: string[]; info: { lines: number } }>;
  try {
    rows = parseCsv(text, {
      delimiter: cfg.delimiter,
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
      trim: true,
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (e) {
    const err = e as { lines?: number; message: string };
    throw new LockstepError('validation', `${file}:${err.lines ?? '?'}: cannot read the CSV: ${err.message}`, { field: file, cause: e });
  }
  if (rows.length === 0) return [];
  const header = rows[0].record;
  const out: RawRecord[] = [];
  for (const { record, info } of rows.slice(1)) {
    if (record.length !== header.length) {
      errors.push({
        file,
        line: info.lines,
        column: null,
        columnIndex: null,
        message: `expected ${header.length} columns, found ${record.length}`,
        externalId: null,
      });
      continue;
    }
    const values = new Map<string, { value: unknown; index: number | null }>();
    header.forEach((h, i) => values.set(h, { value: record[i], index: i + 1 }));
    out.push({ line: info.lines, values });
  }
  return out;
}

function readJson(text: string, file: string): RawRecord[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new LockstepError('validation', `${file}: not valid JSON: ${(e as Error).message}`, { field: file, cause: e });
  }
  const list = Array.isArray(data) ? data : (data as { records?: unknown })?.records;
  if (!Array.isArray(list)) throw new LockstepError('validation', `${file}: expected an array of records (or {"records": [...]})`, { field: file });
  return (list as unknown[]).map((rec, i) => ({
    line: i + 1,
    values: new Map(Object.entries((rec && typeof rec === 'object' ? rec : {}) as Record<string, unknown>).map(([k, v]) => [k, { value: v, index: null }])),
  }));
}

/** One export record → an identity input, or the error that names the column. */
function toIdentity(r: RawRecord, cfg: FileSourceConfig, source: string, file: string): { input: IdentityInput } | { error: RowError } {
  const input: Record<string, unknown> = { source, attributes: {} };
  const columnOf = new Map<string, { column: string; index: number | null }>();
  for (const [column, { value, index }] of r.values) {
    if (cfg.ignore.includes(column)) continue;
    const target = cfg.columns[column] ?? column;
    if (value === '' || value === null || value === undefined) continue;
    let v: unknown = value;
    if (LIST_FIELDS.has(target) && typeof v === 'string') {
      const items = v
        .split(cfg.listSeparator)
        .map((s) => s.trim())
        .filter(Boolean);
      v = target === 'roles' ? items.map((value) => ({ value })) : items;
    } else if (target === 'roles' && Array.isArray(v)) {
      v = (v as unknown[]).map((x) => (typeof x === 'string' ? { value: x } : x));
    } else if (target === 'active' && typeof v === 'string') {
      v = parseBool(v);
    }
    if (CORE.has(target) && target !== 'attributes' && target !== 'source') {
      input[target] = v;
      columnOf.set(target, { column, index });
    } else {
      (input.attributes as Record<string, unknown>)[target] = v;
    }
  }
  const externalId = typeof input.externalId === 'string' ? input.externalId : null;
  const parsed = identityInputSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue.path[0] ?? '');
    const col = columnOf.get(field);
    const mappedFrom = Object.entries(cfg.columns).find(([, t]) => t === field)?.[0];
    return {
      error: {
        file,
        line: r.line,
        column: col?.column ?? mappedFrom ?? field,
        columnIndex: col?.index ?? null,
        message: issue.code === 'invalid_type' && input[field] === undefined ? `${field} is required` : `${field}: ${issue.message}`,
        externalId,
      },
    };
  }
  return { input: parsed.data };
}

export interface FileSyncDeps {
  db: Db;
  name: string;
  config: FileSourceConfig;
  /** Absolute path of the export. */
  path: string;
  actor?: string;
  onChange?: (ids: string[], hint: { leaver: boolean }) => Promise<void> | void;
}

/**
 * Imports an HR export. Valid rows are stored in one transaction; a malformed row is reported
 * with file, line and column and skipped, and it never turns its person into a leaver. In a
 * full export, people of this source who are missing become leavers, unless the export is
 * suspiciously small or a bad row could not be tied to a person.
 */
export async function syncFileSource(deps: FileSyncDeps): Promise<FileSyncResult> {
  const { db, name, config: cfg, path } = deps;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new LockstepError('config', `cannot read the export of source ${name} at ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      field: `sources.${name}.path`,
      cause: e,
    });
  }
  const format = cfg.format ?? (extname(path).toLowerCase() === '.json' ? 'json' : 'csv');
  const errors: RowError[] = [];
  const records = format === 'json' ? readJson(text, path) : readCsv(text, cfg, path, errors);
  const shapeErrors = errors.length;
  const inputs: Array<{ input: IdentityInput; line: number }> = [];
  const seen = new Map<string, number>();
  for (const r of records) {
    const t = toIdentity(r, cfg, name, path);
    if ('error' in t) {
      errors.push(t.error);
      continue;
    }
    const key = t.input.externalId;
    if (seen.has(key)) {
      errors.push({
        file: path,
        line: r.line,
        column: cfg.columns ? (Object.entries(cfg.columns).find(([, v]) => v === 'externalId')?.[0] ?? 'externalId') : 'externalId',
        columnIndex: null,
        message: `externalId ${key} appears again (first on line ${seen.get(key)}); this row is skipped`,
        externalId: key,
      });
      continue;
    }
    seen.set(key, r.line);
    inputs.push({ input: t.input, line: r.line });
  }
  // people named by a bad row keep what they have: they are neither updated nor made leavers
  const protectedIds = new Set(errors.map((e) => e.externalId).filter((x): x is string => !!x));
  const unidentified = errors.filter((e) => !e.externalId).length;

  const result: FileSyncResult = {
    source: name,
    rows: records.length + shapeErrors,
    created: 0,
    updated: 0,
    unchanged: 0,
    leavers: 0,
    errors,
    leaversWithheld: null,
    changedIds: [],
    leaverIds: [],
  };
  await db.transaction(async (tx) => {
    const before = cfg.full ? await countIdentities(tx, { source: name }) : 0;
    for (const r of await upsertIdentities(
      tx,
      inputs.map((i) => i.input),
    )) {
      if (r.created) result.created++;
      else if (r.changed) result.updated++;
      else result.unchanged++;
      if (r.changed) {
        result.changedIds.push(r.identity.id);
        if (!r.identity.active) result.leaverIds.push(r.identity.id);
      }
    }
    if (cfg.full) {
      const present = new Set(inputs.map((i) => i.input.externalId));
      const valid = inputs.length;
      if (unidentified > 0) {
        result.leaversWithheld = `${unidentified} row(s) could not be tied to a person: nobody is made a leaver by absence this time`;
      } else if (before > 0 && (valid / before) * 100 < cfg.minRowsPercent) {
        result.leaversWithheld = `the export has ${valid} valid rows, under ${cfg.minRowsPercent}% of the ${before} people this source holds: it looks truncated, so nobody is made a leaver by absence`;
      } else {
        for (const idn of await listIdentities(tx, { source: name })) {
          if (present.has(idn.externalId) || protectedIds.has(idn.externalId)) continue;
          await markIdentityDeleted(tx, idn.id);
          result.leavers++;
          result.leaverIds.push(idn.id);
          result.changedIds.push(idn.id);
        }
      }
    }
    await appendAudit(tx, [
      {
        actor: deps.actor ?? `source:${name}`,
        action: 'source.file.imported',
        subject: `source:${name}`,
        data: {
          path,
          rows: result.rows,
          created: result.created,
          updated: result.updated,
          leavers: result.leavers,
          leaverIds: result.leaverIds,
          errors: errors.length,
          leaversWithheld: result.leaversWithheld,
        },
      },
    ]);
  });
  if (deps.onChange && result.changedIds.length) {
    const leavers = new Set(result.leaverIds);
    const others = result.changedIds.filter((id) => !leavers.has(id));
    if (leavers.size) await deps.onChange([...leavers], { leaver: true });
    if (others.length) await deps.onChange(others, { leaver: false });
  }
  return result;
}

export function formatRowError(e: RowError): string {
  return `${e.file}:${e.line}${e.column ? `: column ${e.column}${e.columnIndex ? ` (${e.columnIndex})` : ''}` : ''}: ${e.message} — row skipped`;
}
