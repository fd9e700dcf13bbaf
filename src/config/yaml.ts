/**
 * YAML documents validated by zod, with every problem reported at its file, line and column.
 * Used for lockstep.yaml and the mapping files alike.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';

export type IssuePath = Array<string | number>;

export interface YamlIssue {
  file: string;
  line: number;
  column: number;
  /** Dotted path in the document, e.g. `rules[3].when`. */
  path: string;
  /** What the path names, for people (`rule "dc-ops": when`); messages show it instead of the path. */
  label?: string;
  message: string;
}

export interface ParsedYaml {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

export function formatPath(path: IssuePath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_$-][A-Za-z0-9_.$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export function formatIssue(i: YamlIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.label || i.path || '(document)'}: ${i.message}`;
}

export function issueAt(src: ParsedYaml, offset: number, path: IssuePath, message: string): YamlIssue {
  const { line, col } = src.lines.linePos(offset);
  return { file: src.file, line, column: col, path: formatPath(path), message };
}

function keyName(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}

/**
 * Offset of the node at `path`, or of the deepest ancestor that exists (a missing key is
 * reported where its map is). With `atKey`, the offset of the last segment's key instead.
 */
export function offsetOf(src: ParsedYaml, path: IssuePath, atKey = false): number {
  let node: unknown = src.doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(src.doc);
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => keyName(p.key) === String(seg));
      if (pair === undefined) break;
      if (atKey && i === path.length - 1) return rangeStart(pair.key) ?? offset;
      node = pair.value;
      offset = rangeStart(pair.value) ?? rangeStart(pair.key) ?? offset;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = node.items[seg];
      offset = rangeStart(node) ?? offset;
    } else {
      break;
    }
  }
  return offset;
}

/** zod issues → located issues; unknown keys are reported at the key itself. */
export function zodIssues(src: ParsedYaml, error: z.ZodError | readonly z.core.$ZodIssue[]): YamlIssue[] {
  const out: YamlIssue[] = [];
  const list: readonly z.core.$ZodIssue[] = 'issues' in error ? error.issues : error;
  for (const issue of list) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(issueAt(src, offsetOf(src, [...path, key], true), [...path, key], `unknown key "${key}"`));
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined$/.test(message)) message = `required: ${message}`;
    if (issue.code === 'invalid_key') message = `invalid key: ${issue.issues.map((i) => i.message).join('; ')}`;
    out.push(issueAt(src, offsetOf(src, path, issue.code === 'invalid_key'), path, message));
  }
  return out;
}

/** Parses YAML keeping positions; syntax errors become located issues. */
export function parseYaml(text: string, file: string, issues: YamlIssue[]): { src: ParsedYaml; raw: unknown } | null {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const src: ParsedYaml = { file, doc, lines };
  if (doc.errors.length > 0) {
    for (const err of doc.errors) issues.push(issueAt(src, err.pos[0], [], `YAML: ${err.message.split('\n')[0]}`));
    return null;
  }
  return { src, raw: doc.toJS({ maxAliasCount: 1000 }) };
}
