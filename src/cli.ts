#!/usr/bin/env node
/**
 * The `lockstep` command. Exit codes (also in README):
 *   0 success (plan: no changes, or changes without --detailed-exitcode)
 *   1 error (a system unreachable, a failure inside lockstep)
 *   2 plan --detailed-exitcode: there are changes
 *   3 the run was held by the mass-revocation guard (approve it with `lockstep approve <run>`)
 *   4 some operations failed (they are in the run record and the audit log; the next run retries them)
 *   5 invalid configuration, mappings or input (the message names file, line and field)
 *   6 audit verify --checkpoint: a signed checkpoint does not hold (entries removed from the end or
 *     rewritten since it was taken, or the checkpoint itself forged); the first bad one is named
 *   7 the embedded store (PGlite) is held by another lockstep process that does not share it (another
 *     CLI command, a second serve or worker, a process on another host), or serve's shared socket
 *     cannot be used (e.g. another user); the message names the holder. Beside a running serve, the
 *     commands use the store serve shares (src/store/share.ts)
 */
import { main } from './cli/index.js';

await main(process.argv);
