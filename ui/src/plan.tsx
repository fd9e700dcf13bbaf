import { useState } from 'react';
import { RichText } from './common';
import { PLAN_SYMBOL, summarize } from '../../src/domain/plan-summary';
import type { Operation, OperationResult, Plan, Reason } from './api';

/** Plan: n to add, n to change, n to destroy, and the `+ - ~ =` symbols: the server's own code (src/domain/plan-summary.ts). */
export { summarize };
const SYMBOL = PLAN_SYMBOL;

function win(v: Operation['validity']): string {
  if (!v || (!v.from && !v.until)) return '';
  return ` [${v.from ?? '…'} → ${v.until ?? '…'}]`;
}

export function describeOp(op: Operation): string {
  const who = op.userName ?? op.externalId ?? `account ${op.accountId}`;
  const g = op.group ? `${op.group.name} (class ${op.group.protectionClass}, ${op.system})` : op.system;
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
      return `grant ${who} ${g}${win(op.validity)}`;
    case 'change_validity':
      return `change ${who} ${g}${win(op.previousValidity)} →${win(op.validity)}`;
    case 'revoke':
      return `revoke ${who} ${g}`;
    case 'set_credential_state':
      return `set credential ${op.credentialId} of ${who} to ${op.credentialState} (${op.system})`;
  }
}

export function reasonText(r: Reason): string {
  const parts = [`rule ${r.rule}`];
  if (r.roleChain?.length) parts.push(`bundle ${r.roleChain.join(' › ')}`);
  else if (r.role) parts.push(`bundle ${r.role}`);
  if (r.sourceRole) parts.push(`source role ${r.sourceRole}`);
  const m = Object.entries(r.matched ?? {});
  if (m.length) parts.push(m.map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', '));
  return parts.join(' · ');
}

export function PlanSummary({ plan }: { plan: Plan }) {
  const s = plan.summary;
  return (
    <p className="plan-summary" aria-label="plan summary">
      Plan: <span className="add">{s.add} to add</span>, <span className="change">{s.change} to change</span>,{' '}
      <span className="destroy">{s.destroy} to destroy</span>.
    </p>
  );
}

/** Who an operation is about: the person (identity), else the account. */
function personKey(op: Operation): string {
  return op.identityId ?? op.userName ?? op.externalId ?? `${op.system}:${op.accountId ?? '?'}`;
}
function personLabel(op: Operation): string {
  return op.userName ?? op.externalId ?? `account ${op.accountId ?? '?'} in ${op.system}`;
}

function OpLine({ op, r }: { op: Operation; r: OperationResult | undefined }) {
  const sym = SYMBOL[op.kind];
  return (
    <li className={`op op-${sym === '+' ? 'add' : sym === '-' ? 'destroy' : sym === '~' ? 'change' : 'link'}`}>
      <span className="sym" aria-hidden="true">
        {sym}
      </span>{' '}
      <span className="what">{describeOp(op)}</span>
      {r ? (
        <span className={`result result-${r.status}`}>
          {' '}
          {r.status}
          {r.error ? `: ${r.error.message}` : ''}
        </span>
      ) : null}
      <div className="why">
        because <RichText text={op.reason.text} />
        {op.reason.policy ? ` [${op.reason.policy}]` : ''}
      </div>
      {op.reason.reasons?.length ? (
        <ul className="reasons">
          {op.reason.reasons.map((x, i) => (
            <li key={i}>{reasonText(x)}</li>
          ))}
        </ul>
      ) : null}
    </li>
  );
}

/** Plans this short show every person's operations open; longer ones open a person on a click. */
const OPEN_UP_TO = 25;

/**
 * The plan as `lockstep plan` shows it, grouped per person: each person with their counts
 * (+ add, ~ change, - destroy; applied and failed once applied) and their operations, each with
 * its reason and result, behind a click in long plans. `limit` people are shown at once.
 */
export function PlanView({ plan, results, limit = 500 }: { plan: Plan; results?: OperationResult[]; limit?: number }) {
  const byKey = new Map((results ?? []).map((r) => [r.key, r]));
  const groups = new Map<string, { label: string; ops: Operation[] }>();
  for (const op of plan.operations) {
    const k = personKey(op);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { label: personLabel(op), ops: [] }));
    g.ops.push(op);
  }
  const [shown, setShown] = useState(limit);
  const [allOpen, setAllOpen] = useState<boolean | null>(null);
  const list = [...groups.entries()].slice(0, shown);
  const openByDefault = plan.operations.length <= OPEN_UP_TO;
  return (
    <div className="plan">
      {plan.operations.length === 0 ? <p>No changes. The lock systems match the policy.</p> : null}
      {groups.size > 1 && !openByDefault ? (
        <div className="row">
          <span className="muted">
            {plan.operations.length} operations for {groups.size} people or accounts.
          </span>
          <button type="button" onClick={() => setAllOpen(true)}>
            Expand all
          </button>
          <button type="button" onClick={() => setAllOpen(false)}>
            Collapse all
          </button>
        </div>
      ) : null}
      <ul className="ops plan-groups" aria-label="operations">
        {list.map(([k, g]) => {
          const s = summarize(g.ops);
          const applied = g.ops.filter((o) => byKey.get(o.key)?.status === 'applied').length;
          const failed = g.ops.filter((o) => byKey.get(o.key)?.status === 'failed').length;
          return (
            <li key={k} className="plan-group">
              <details open={allOpen ?? openByDefault} key={String(allOpen)}>
                <summary aria-label={`${g.label}: ${g.ops.length} operation${g.ops.length === 1 ? '' : 's'}`}>
                  <strong>{g.label}</strong>
                  <span className="counts">
                    {s.add ? <span className="add">+{s.add} </span> : null}
                    {s.change ? <span className="change">~{s.change} </span> : null}
                    {s.destroy ? <span className="destroy">-{s.destroy} </span> : null}
                    {results?.length ? (
                      <span className="muted">
                        ({applied} applied{failed ? `, ${failed} failed` : ''})
                      </span>
                    ) : null}
                  </span>
                </summary>
                <ul className="ops">
                  {g.ops.map((op) => (
                    <OpLine key={op.key} op={op} r={byKey.get(op.key)} />
                  ))}
                </ul>
              </details>
            </li>
          );
        })}
      </ul>
      {groups.size > shown ? (
        <p className="muted">
          …and {groups.size - shown} more people or accounts.{' '}
          <button type="button" onClick={() => setShown((n) => n + limit)}>
            Show more
          </button>
        </p>
      ) : null}
      {plan.warnings.map((w, i) => (
        <p key={i} className="warning">
          Warning: <RichText text={w} />
        </p>
      ))}
      <PlanSummary plan={plan} />
    </div>
  );
}
