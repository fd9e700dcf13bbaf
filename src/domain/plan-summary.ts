/**
 * The plan's counts and symbols, as `lockstep plan` prints them and the web console shows them
 * (ui/src/plan.tsx imports this file as code): nothing but the operation kinds, no imports.
 */

/**
 * Operation kinds, in the order the executor applies them within one account: create before
 * grant, revocations before grants (so a mover never holds both old and new doors), suspension last.
 */
export type OperationKind =
  | 'create_account'
  | 'update_account'
  | 'link_account'
  | 'reactivate_account'
  | 'revoke'
  | 'grant'
  | 'change_validity'
  | 'suspend_account'
  | 'delete_account'
  | 'set_credential_state';

// a type, not an interface: it is assignable to the API's open object (an index signature)
export type PlanSummary = {
  add: number;
  change: number;
  destroy: number;
  byKind: Partial<Record<OperationKind, number>>;
};

/** Plan: n to add, n to change, n to destroy (terraform's words); linking an account changes nothing. */
export function summarize(ops: ReadonlyArray<{ kind: OperationKind }>): PlanSummary {
  const byKind: PlanSummary['byKind'] = {};
  let add = 0;
  let change = 0;
  let destroy = 0;
  for (const op of ops) {
    byKind[op.kind] = (byKind[op.kind] ?? 0) + 1;
    if (op.kind === 'grant' || op.kind === 'create_account') add++;
    else if (op.kind === 'revoke' || op.kind === 'delete_account') destroy++;
    else if (op.kind !== 'link_account') change++;
  }
  return { add, change, destroy, byKind };
}

/** terraform-style symbols: + adds, - takes away, ~ changes, = links. */
export const PLAN_SYMBOL: Readonly<Record<OperationKind, '+' | '-' | '~' | '='>> = {
  create_account: '+',
  grant: '+',
  link_account: '=',
  update_account: '~',
  change_validity: '~',
  reactivate_account: '~',
  set_credential_state: '~',
  suspend_account: '-',
  revoke: '-',
  delete_account: '-',
};
