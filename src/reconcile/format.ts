import { PLAN_SYMBOL, type Operation, type Plan } from '../domain/plan.js';

const SYMBOL = PLAN_SYMBOL;

function window(v: Operation['validity']): string {
  if (!v || (!v.from && !v.until)) return '';
  return ` [${v.from ?? '…'} → ${v.until ?? '…'}]`;
}

function describe(op: Operation): string {
  const who = op.userName ?? op.externalId ?? `account ${op.accountId}`;
  switch (op.kind) {
    case 'create_account':
      return `create account for ${who} in ${op.system}`;
    case 'update_account':
      return `update account of ${who} in ${op.system}`;
    case 'link_account':
      return `link ${who} to account ${op.accountId} in ${op.system}`;
    case 'reactivate_account':
      return `reactivate account of ${who} in ${op.system}`;
    case 'suspend_account':
      return `suspend account of ${who} in ${op.system}`;
    case 'delete_account':
      return `delete account of ${who} in ${op.system}`;
    case 'grant':
      return `grant ${who} ${op.group!.name} (class ${op.group!.protectionClass}, ${op.system})${window(op.validity)}`;
    case 'change_validity':
      return `change ${who} ${op.group!.name} (class ${op.group!.protectionClass}, ${op.system})${window(op.previousValidity)} →${window(op.validity)}`;
    case 'revoke':
      return `revoke ${who} ${op.group!.name} (class ${op.group!.protectionClass}, ${op.system})`;
    case 'set_credential_state':
      return `set credential ${op.credentialId} of ${who} to ${op.credentialState} (${op.system})`;
  }
}

export interface FormatOptions {
  color?: boolean;
}

/** `terraform plan`-like text: one line per operation with its reason, then the summary. */
export function formatPlan(plan: Plan, opts: FormatOptions = {}): string {
  const c = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const colorOf: Record<string, string> = { '+': '32', '-': '31', '~': '33', '=': '36' };
  const lines: string[] = [];
  if (plan.operations.length === 0) {
    lines.push('No changes. The lock systems match the policy.');
  } else {
    lines.push('lockstep will perform the following actions:', '');
    for (const op of plan.operations) {
      const sym = SYMBOL[op.kind];
      lines.push(`  ${c(colorOf[sym], sym)} ${describe(op)}`);
      lines.push(`      ${c('2', `because ${op.reason.text}${op.reason.policy ? ` [${op.reason.policy}]` : ''}`)}`);
      if (op.fitted?.length) lines.push(`      ${c('2', `fitted to ${op.system}: ${op.fitted.join('; ')}`)}`);
      if (op.learnedBy) lines.push(`      ${c('2', `offline locks learn it when the keys are next updated, at the latest by ${op.learnedBy}`)}`);
    }
    lines.push('');
  }
  for (const w of plan.warnings) lines.push(`${c('33', 'Warning:')} ${w}`);
  if (plan.warnings.length) lines.push('');
  // held access that breaks an invariant: reported, never revoked by the plan (docs/policy-as-code.md)
  for (const v of plan.violations ?? [])
    lines.push(`${c('31', 'Violation:')} invariant ${v.invariant}: ${v.userName ?? 'access group'} ${v.accessGroupIds.join(', ')}: ${v.message}`);
  if (plan.violations?.length)
    lines.push(`${plan.violations.length} invariant violation(s) in held access: reported only; \`lockstep report violations\` lists them`, '');
  const s = plan.summary;
  lines.push(`Plan: ${s.add} to add, ${s.change} to change, ${s.destroy} to destroy.`);
  return lines.join('\n');
}
