/**
 * The violation report (issue 27): access the lock systems hold now that breaks an invariant
 * of the mappings. It is what a full plan finds (the same reading of every identity and every
 * lock system, reconcile/plan.ts), without applying anything; the service also remembers what
 * its plans found (store/invariants.ts) for /metrics, the console and `violation.found`.
 */
import type { InvariantViolation } from '../domain/plan.js';
import { listViolations, type StoredViolation } from '../store/invariants.js';
import { buildRunPlan } from '../reconcile/plan.js';
import { toCsv } from './csv.js';
import type { EngineContext } from '../reconcile/types.js';

export interface ViolationReport {
  generatedAt: string;
  /** The invariants of the mappings, each with how many violations it has. */
  invariants: Array<{ id: string; description: string | null; says: string; violations: number }>;
  violations: InvariantViolation[];
}

/** Reads every identity and lock system as `lockstep plan` does and lists what breaks an invariant now. */
export async function violationReport(ctx: EngineContext): Promise<ViolationReport> {
  const inv = ctx.policy.invariants;
  const violations = inv.list.length === 0 ? [] : ((await buildRunPlan(ctx, { kind: 'full' })).plan.violations ?? []);
  return {
    generatedAt: ctx.now().toISOString(),
    invariants: inv.list.map((x) => ({
      id: x.id,
      description: x.description ?? null,
      says: x.text,
      violations: violations.filter((v) => v.invariant === x.id).length,
    })),
    violations,
  };
}

const CSV_COLUMNS: Array<keyof InvariantViolation> = ['invariant', 'userName', 'identityId', 'accessGroupIds', 'message'];

export function violationReportCsv(r: ViolationReport): string {
  return toCsv(r.violations, CSV_COLUMNS);
}

export function violationReportText(r: ViolationReport): string {
  if (r.invariants.length === 0) return 'The mappings declare no invariants.';
  const lines: string[] = [];
  for (const x of r.invariants) {
    lines.push(
      `${x.violations === 0 ? 'ok  ' : 'FAIL'} ${x.id}: ${x.says}${x.violations ? ` (${x.violations} violation${x.violations === 1 ? '' : 's'})` : ''}`,
    );
    for (const v of r.violations.filter((y) => y.invariant === x.id))
      lines.push(`       ${v.userName ?? '(group)'}: ${v.accessGroupIds.join(', ')}: ${v.message}`);
  }
  const n = r.violations.length;
  lines.push(
    '',
    n === 0
      ? 'No held access breaks an invariant.'
      : `${n} violation(s): held access is reported, never revoked on its own; decide with an access review (reviews scope: { violations: true }) or an access exception.`,
  );
  return lines.join('\n');
}

/** The store's record of violations (what the service's last plans found), by identity and access group. */
export async function recordedViolationsByMembership(ctx: EngineContext): Promise<Map<string, string[]>> {
  if (ctx.policy.invariants.list.length === 0) return new Map();
  const out = new Map<string, string[]>();
  const add = (k: string, id: string) => {
    const l = out.get(k);
    if (l === undefined) out.set(k, [id]);
    else if (!l.includes(id)) l.push(id);
  };
  for (const v of await listViolations(ctx.db)) for (const g of v.accessGroupIds) add(`${v.identityId ?? '*'}|${g}`, v.invariant);
  return out;
}

export type { StoredViolation };
