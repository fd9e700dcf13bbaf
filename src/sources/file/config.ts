import { z } from 'zod';

/** A `sources.<name>` block with `type: file`: an HR export, CSV or JSON. */
export const fileSourceSchema = z
  .object({
    type: z.literal('file'),
    path: z.string().min(1),
    format: z.enum(['csv', 'json']).optional(),
    /** A full export: identities of this source missing from it become leavers. */
    full: z.boolean().default(true),
    delimiter: z.string().length(1).default(','),
    /** Separator inside list columns (groups, roles). */
    listSeparator: z.string().min(1).default(';'),
    /** Export column (or JSON key) → identity attribute. Unmapped columns go to `attributes` under their own name. */
    columns: z.record(z.string(), z.string()).default({}),
    /** Columns that are not mapped and should not be kept. */
    ignore: z.array(z.string()).default([]),
    /**
     * The export is "suspiciously small" when it has fewer rows than this percentage of the
     * identities the source already holds: then nobody is made a leaver by absence.
     */
    minRowsPercent: z.number().min(0).max(100).default(80),
  })
  .strict();
export type FileSourceConfig = z.infer<typeof fileSourceSchema>;
