/**
 * The rules' memo: evaluation (evaluate.ts) remembers which rules matched, keyed by the values
 * of the attributes the rules read, so people who share them are matched once. Caching only:
 * what an entry holds is the evaluation's; this module decides the key, which rules are
 * remembered and when to stop remembering.
 */
import type { AccessGroup } from '../domain/access.js';
import type { Identity } from '../domain/identity.js';
import type { CompiledPolicy, CompiledRule } from './compile.js';
import { attributeName, attributeUses, lookupIdentity, type AttributeName } from './filter.js';

/**
 * Which rules match depends only on the values of the attributes the filters read, and most
 * people share them with many others (site, department, employeeType, groups, roles): the
 * rules' part of an evaluation is remembered by those values. Attributes tested only for
 * presence (`sponsor pr`) count only as present or not; their values, which reasons show, are
 * read per person. An attribute whose values turn out to be nearly unique (an email tested with
 * `ew`) gets its rules evaluated per person instead, and the memo keeps serving the others.
 * Everything that depends on time or on the person alone (validity, anchors, sponsor, leave
 * and hire dates) is worked out per person from the rules' answer.
 */
export interface RuleMemo<T> {
  rules: readonly CompiledRule[];
  size: number;
  groups: ReadonlyMap<string, AccessGroup>;
  /** Lower-cased names whose rules are evaluated per person. */
  demoted: Set<string>;
  /** Positions of those rules. */
  direct: Set<number>;
  /** The attributes the remembered rules read, as written, and whether only their presence counts. */
  names: AttributeName[];
  presenceOnly: boolean[];
  /** By lower-cased name: read only for presence by every remembered rule. */
  presence: Map<string, boolean>;
  /** Every rule is evaluated per person. */
  off: boolean;
  entries: Map<string, MemoEntry<T>>;
  /** Look-ups since the entries were last cleared. */
  lookups: number;
}

/** What the evaluation remembers for one key (T), with the key's parts. */
export type MemoEntry<T> = T & {
  /** The key's part for each name, kept to find which attribute makes keys unique. */
  parts: string[];
};

/** Entries kept per policy; past it they are reviewed and cleared. */
export const RULE_MEMO_MAX = 8192;

/** A memo per policy (by its compiled rules), each entry holding a T. */
export function ruleMemos<T>(): (policy: CompiledPolicy) => RuleMemo<T> {
  const memos = new WeakMap<readonly CompiledRule[], RuleMemo<T>>();
  return (policy) => ruleMemoOf(memos, policy);
}

function ruleMemoOf<T>(ruleMemos: WeakMap<readonly CompiledRule[], RuleMemo<T>>, policy: CompiledPolicy): RuleMemo<T> {
  let memo = ruleMemos.get(policy.rules);
  if (memo !== undefined && memo.size === policy.rules.length && memo.groups === policy.accessGroups) return memo;
  memo = {
    rules: policy.rules,
    size: policy.rules.length,
    groups: policy.accessGroups,
    demoted: new Set(),
    direct: new Set(),
    names: [],
    presenceOnly: [],
    presence: new Map(),
    off: false,
    entries: new Map(),
    lookups: 0,
  };
  plan(memo);
  ruleMemos.set(policy.rules, memo);
  return memo;
}

/** Works out which rules are remembered and by which attributes, after a change to `demoted`. */
function plan<T>(memo: RuleMemo<T>): void {
  const uses = memo.rules.map((r) => attributeUses(r.when));
  memo.direct = new Set();
  uses.forEach((u, i) => {
    if (u.some((x) => memo.demoted.has(x.name.toLowerCase()))) memo.direct.add(i);
  });
  const names = new Map<string, AttributeName>();
  memo.presence = new Map();
  uses.forEach((u, i) => {
    if (memo.direct.has(i)) return;
    for (const x of u) {
      const lower = x.name.toLowerCase();
      memo.presence.set(lower, (memo.presence.get(lower) ?? true) && x.presence);
      if (!names.has(x.name)) names.set(x.name, nameOf(x.name));
    }
  });
  memo.names = [...names.values()];
  memo.presenceOnly = memo.names.map((n) => memo.presence.get(n.lower)!);
  memo.off = memo.direct.size === memo.rules.length && memo.rules.length > 0;
  memo.entries = new Map();
  memo.lookups = 0;
}

/**
 * Past RULE_MEMO_MAX entries: when fewer than half the look-ups since the last clear found
 * their entry, the attribute with the most distinct values among the entries (if it is nearly
 * unique to each) has its rules evaluated per person from now on; failing that, the memo stops.
 */
export function review<T>(memo: RuleMemo<T>): void {
  if (memo.lookups < 2 * memo.entries.size) {
    let worst = -1;
    let most = 0;
    for (let k = 0; k < memo.names.length; k++) {
      const seen = new Set<string>();
      for (const e of memo.entries.values()) seen.add(e.parts[k]);
      if (seen.size > most) {
        most = seen.size;
        worst = k;
      }
    }
    if (worst >= 0 && most > memo.entries.size / 2) {
      memo.demoted.add(memo.names[worst].lower);
      plan(memo);
      return;
    }
    memo.off = true;
  }
  memo.entries = new Map();
  memo.lookups = 0;
}

/** Strings that read back unambiguously, or null for values JSON does not produce. */
function valueKey(v: unknown): string | null {
  switch (typeof v) {
    case 'string':
      return `s${v.length}:${v}`;
    case 'number':
      return Object.is(v, -0) ? 'z' : `d${v};`;
    case 'boolean':
      return v ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'object': {
      if (v === null) return 'n';
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) {
          if (!(i in v)) return null;
          const k = valueKey(v[i]);
          if (k === null) return null;
          s += k;
        }
        return `${s}]`;
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return null;
      let s = '{';
      for (const key of Object.keys(v)) {
        const k = valueKey((v as Record<string, unknown>)[key]);
        if (k === null) return null;
        s += `s${key.length}:${key}${k}`;
      }
      return `${s}}`;
    }
    default:
      return null;
  }
}

/** One name's part of a memo key: where the attribute was found and its value (or only whether it is empty). */
export function keyPart(identity: Identity, n: AttributeName, presenceOnly: boolean): string | null {
  const found = lookupIdentity(identity, n);
  if (found === undefined) return '~';
  const where = found.key === n.name ? '=' : `k${found.key.length}:${found.key}`;
  const v = found.value;
  if (presenceOnly && typeof v === 'string') return where + (v.length > 0 ? 'P' : 'E');
  const k = valueKey(v);
  return k === null ? null : where + k;
}

export function memoKey<T>(memo: RuleMemo<T>, identity: Identity): string | null {
  let key = '';
  for (let k = 0; k < memo.names.length; k++) {
    const part = keyPart(identity, memo.names[k], memo.presenceOnly[k]);
    if (part === null) return null;
    key += part;
  }
  return key;
}

/** Names prepared for lookupIdentity, by name (a policy names a few dozen). */
const names = new Map<string, AttributeName>();
export function nameOf(name: string): AttributeName {
  let n = names.get(name);
  if (n === undefined) {
    n = attributeName(name);
    if (names.size >= 10_000) names.clear();
    names.set(name, n);
  }
  return n;
}
