/**
 * The answer of `POST /api/v1/sources/{name}/sync`: what the pull found, so an operator who
 * triggers an import sees its skipped rows and any withheld leavers at once, not in the logs.
 */
import { z } from 'zod';
import type { PullResult } from '../sources/entra/index.js';
import { formatRowError, type FileSyncResult } from '../sources/file/index.js';

/** What pulling one configured source returned, tagged with the kind of source. */
/** The batch's revocations over the budget: everyone in it who would lose access waits in this held run. */
export type BatchHeld = { runId: string; people: number; reason: string | null } | null;
export type SourcePullResult = { type: 'file'; result: FileSyncResult; held?: BatchHeld } | { type: 'entra'; result: PullResult; held?: BatchHeld };

const count = z.number().int().nonnegative();

export const rowErrorResponseSchema = z.object({
  file: z.string(),
  /** 1-based line of the CSV file, or 1-based record index of a JSON export. */
  line: z.number().int(),
  /** The export's column (or JSON key) at fault, and its 1-based position where known. */
  column: z.string().nullable(),
  columnIndex: z.number().int().nullable(),
  reason: z.string(),
  externalId: z.string().nullable(),
  /** The same as one line: `file:line: column c (n): reason — row skipped`. */
  text: z.string(),
});

/**
 * The batch as a whole would take access from more people than the revocation budget allows:
 * everyone in it who would lose access waits in this held run (nobody of them loses anything
 * until it is approved); people who only gain access went ahead.
 */
export const heldBatchSchema = z.object({ runId: z.string(), people: count, reason: z.string().nullable() }).nullable();

export const fileSyncResponseSchema = z.object({
  source: z.string(),
  type: z.literal('file'),
  synced: z.literal(true),
  /** Records in the export, malformed ones included. */
  rows: count,
  counts: z.object({ created: count, updated: count, unchanged: count, leavers: count }),
  /** Rows skipped, in file order: each named by file, line and column. */
  errors: z.array(rowErrorResponseSchema),
  /**
   * Why nobody was made a leaver by absence this time (the export looks truncated: fewer rows
   * than `minRowsPercent` of the people known; or a bad row could not be tied to a person).
   */
  leaversWithheld: z.string().nullable(),
  heldRun: heldBatchSchema,
  /** What an operator should read: the withheld leavers and a held batch, as text. */
  warnings: z.array(z.string()),
});

export const entraSyncResponseSchema = z.object({
  source: z.string(),
  type: z.literal('entra'),
  synced: z.literal(true),
  counts: z.object({
    /** Users read from Graph this round. */
    seen: count,
    created: count,
    /** Identities whose stored record changed, leavers included. */
    changed: count,
    /** Identities marked deleted. */
    removed: count,
    leavers: count,
  }),
  /** A full enumeration replaced the delta round. */
  resynced: z.boolean(),
  /** The mass-removal guard held back absence-based removals. */
  held: z.object({ wouldRemove: count, total: count, percent: z.number(), maxRemovalPercent: z.number(), sample: z.array(z.string()) }).nullable(),
  /** Users skipped because another Entra user already claims their externalId. */
  conflicts: z.array(z.object({ objectId: z.string(), externalId: z.string(), heldBy: z.string() })),
  heldRun: heldBatchSchema,
  warnings: z.array(z.string()),
});

export const sourceSyncResponseSchema = z.discriminatedUnion('type', [fileSyncResponseSchema, entraSyncResponseSchema]);
export type SourceSyncResponse = z.infer<typeof sourceSyncResponseSchema>;

/** The pull's result in the documented shape (internal id lists left out). */
export function sourceSyncResponse(pulled: SourcePullResult): SourceSyncResponse {
  const heldRun = pulled.held ?? null;
  const heldText = heldRun
    ? [`${heldRun.people} people who would lose access wait in held run ${heldRun.runId} for approval: ${heldRun.reason ?? ''}`.trim()]
    : [];
  if (pulled.type === 'file') {
    const r = pulled.result;
    return sourceSyncResponseSchema.parse({
      source: r.source,
      type: 'file',
      synced: true,
      rows: r.rows,
      counts: { created: r.created, updated: r.updated, unchanged: r.unchanged, leavers: r.leavers },
      errors: [...r.errors]
        .sort((a, b) => a.line - b.line)
        .map((e) => ({
          file: e.file,
          line: e.line,
          column: e.column,
          columnIndex: e.columnIndex,
          reason: e.message,
          externalId: e.externalId,
          text: formatRowError(e),
        })),
      leaversWithheld: r.leaversWithheld,
      heldRun,
      warnings: [...(r.leaversWithheld ? [r.leaversWithheld] : []), ...heldText],
    });
  }
  const r = pulled.result;
  const held = r.held
    ? [
        `${r.held.wouldRemove} of ${r.held.total} identities (${r.held.percent}%) would be removed, over maxRemovalPercent ${r.held.maxRemovalPercent}: removals held`,
      ]
    : [];
  return sourceSyncResponseSchema.parse({
    source: r.source,
    type: 'entra',
    synced: true,
    counts: { seen: r.users.seen, created: r.created, changed: r.changed, removed: r.removed, leavers: r.leavers },
    resynced: r.resynced,
    held: r.held,
    conflicts: r.conflicts,
    heldRun,
    warnings: [...held, ...heldText, ...r.warnings],
  });
}
