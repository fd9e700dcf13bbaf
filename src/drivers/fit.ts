import type { AccountLimits } from './contract.js';

/**
 * The one rule for what of a person's attributes reaches a lock system (issue 21). SCIM, HR
 * exports and Entra allow values a lock system cannot hold (a 600-character display name, an
 * empty one); such a value must never block an identity change, least of all a deactivation.
 * So it is fitted here, at the driver boundary, for that system only, and the fitting is said in
 * the operation (plan, audit) and in explain:
 *
 * - displayName: control characters removed and white space trimmed; empty, it falls back to
 *   the userName, then the externalId (every system needs a name; none takes an empty one);
 *   longer than the system's limit, it is cut there (never inside a surrogate pair).
 * - email: longer than the limit, it is not sent (a cut address is a wrong address).
 * - externalId is the correlation key and is never changed: one over the limit fails that
 *   system's operation with a reason (the driver refuses it), and nothing else.
 */

export interface FitInput {
  displayName?: string | null;
  userName: string;
  externalId: string;
  email?: string | null;
}

export interface FittedFields {
  displayName: string;
  email?: string;
  /** What was changed to fit, in words (empty: sent as the source gave it). */
  fitted: string[];
}

// C0 and C1 control characters and the line/paragraph separators: no lock system shows them

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Cuts s to at most max UTF-16 code units without leaving half a surrogate pair. */
export function cutTo(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut.trimEnd();
}

const HAS_CONTROL = new RegExp(CONTROL.source);

const clean = (s: string | null | undefined) => (s ?? '').replace(CONTROL, ' ').trim();

export function fitAccountFields(input: FitInput, limits: AccountLimits = {}): FittedFields {
  const fitted: string[] = [];
  const given = input.displayName ?? '';
  let name = clean(given);
  if (name && HAS_CONTROL.test(given)) fitted.push('displayName: control characters removed');
  if (!name) {
    const fallback = clean(input.userName) || clean(input.externalId);
    if (input.displayName !== undefined && input.displayName !== null)
      fitted.push(`displayName: empty at source, ${clean(input.userName) ? 'userName' : 'externalId'} used`);
    name = fallback;
  }
  const maxName = limits.displayName;
  if (maxName !== undefined && name.length > maxName) {
    fitted.push(`displayName: ${name.length} characters cut to the system's ${maxName}`);
    name = cutTo(name, maxName);
  }
  const out: FittedFields = { displayName: name, fitted };
  const email = input.email ?? undefined;
  if (email !== undefined) {
    if (limits.email !== undefined && email.length > limits.email)
      fitted.push(`email: ${email.length} characters, over the system's ${limits.email}: not sent`);
    else out.email = email;
  }
  return out;
}
