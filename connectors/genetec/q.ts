import { qUnquote } from './assumptions.js';

/**
 * The Web SDK's `q=` syntax: comma-separated segments (`entity=<guid>`, `Name=value`,
 * `Credentials@<guid>`, `Credentials-<guid>`, `Members*`, `Status.Activate(a,b)`, `Guid`), read
 * by the fake and, as signatures, by the spec test. Commas inside parentheses or double quotes
 * do not split.
 */

export type Segment =
  | { kind: 'entity'; target: string }
  | { kind: 'set'; name: string; value: string }
  | { kind: 'add'; name: string; value: string }
  | { kind: 'remove'; name: string; value: string }
  | { kind: 'clear'; name: string }
  | { kind: 'call'; name: string; args: string[] }
  | { kind: 'read'; name: string };

/** Splits on top-level commas. */
export function splitTop(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      // a doubled quote inside a quoted value is a literal quote
      if (quoted && text[i + 1] === '"') {
        cur += '""';
        i++;
        continue;
      }
      quoted = !quoted;
    } else if (!quoted && ch === '(') depth++;
    else if (!quoted && ch === ')') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0 && !quoted) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur !== '' || out.length > 0) out.push(cur);
  return out.map((s) => s.trim());
}

const NAME = /^[A-Za-z_][\w.]*$/;

export function parseSegment(raw: string): Segment {
  const s = raw.trim();
  const eq = s.indexOf('=');
  const paren = s.indexOf('(');
  if (eq > 0 && (paren < 0 || eq < paren) && NAME.test(s.slice(0, eq))) {
    const name = s.slice(0, eq);
    const value = s.slice(eq + 1);
    if (name.toLowerCase() === 'entity') return { kind: 'entity', target: value.trim() };
    return { kind: 'set', name, value: qUnquote(value) };
  }
  const call = /^([A-Za-z_][\w.]*)\((.*)\)$/s.exec(s);
  if (call) return { kind: 'call', name: call[1], args: call[2].trim() === '' ? [] : splitTop(call[2]).map(qUnquote) };
  const at = /^([A-Za-z_][\w.]*)@(.+)$/s.exec(s);
  if (at) return { kind: 'add', name: at[1], value: qUnquote(at[2]) };
  const minus = /^([A-Za-z_][\w.]*)-\(?([^)]*)\)?$/s.exec(s);
  if (minus) return { kind: 'remove', name: minus[1], value: qUnquote(minus[2]) };
  const star = /^([A-Za-z_][\w.]*)\*$/.exec(s);
  if (star) return { kind: 'clear', name: star[1] };
  return { kind: 'read', name: s };
}

export function parseQ(q: string): Segment[] {
  return splitTop(q)
    .filter((s) => s !== '')
    .map(parseSegment);
}

/**
 * A segment with its values left out, for comparing a request's shape with the collection's:
 * `entity=NewEntity(Cardholder)`, `entity=_`, `Name=_`, `Credentials@_`, `Status.Activate(_,_)`.
 * NewEntity keeps its type (creating a cardholder is not creating a door); an `@` whose value is
 * a call keeps the call's name (`CustomFields@CustomField(_,_)`).
 */
export function signature(seg: Segment): string {
  switch (seg.kind) {
    case 'entity': {
      const m = /^NewEntity\(([^)]*)\)$/i.exec(seg.target);
      return m
        ? `entity=NewEntity(${m[1]
            .split(',')
            .map((x) => x.trim())
            .join(',')})`
        : 'entity=_';
    }
    case 'set':
      return `${seg.name}=_`;
    case 'add': {
      const m = /^([A-Za-z_][\w.]*)\((.*)\)$/s.exec(seg.value);
      return m
        ? `${seg.name}@${m[1]}(${splitTop(m[2])
            .map(() => '_')
            .join(',')})`
        : `${seg.name}@_`;
    }
    case 'remove':
      return `${seg.name}-_`;
    case 'clear':
      return `${seg.name}*`;
    case 'call':
      return `${seg.name}(${seg.args.map(() => '_').join(',')})`;
    case 'read':
      return seg.name;
  }
}
