/**
 * Reads mapping files, merges them and compiles them. Every problem, whatever found it (the
 * YAML parser, the zod schema, the cross-reference checks), is reported with the file, line
 * and column it is at, all at once: an IAM team fixing a file should not have to iterate
 * one error at a time.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { formatIssue, issueAt, offsetOf, zodIssues, type ParsedYaml } from '../config/yaml.js';
import { LockstepError } from '../domain/errors.js';
import { checkMappings, compile, type CompiledPolicy, type IssuePath } from './compile.js';
import { mappingsSchema, type Mappings } from './schema.js';
import { namedPath } from './paths.js';

export interface MappingIssue {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Path in the file's document, e.g. `rules[3].when`; empty for YAML syntax errors. */
  path: string;
  /** What the path names, for people: `rule "dc-ops": when` (rules and access groups by id). */
  label?: string;
  message: string;
}

export interface MappingSource {
  /** Name used in messages (the path as given). */
  file: string;
  text: string;
}

export interface LoadedMappings {
  mappings: Mappings;
  policy: CompiledPolicy;
  files: string[];
}

/** `datacenter.yaml:42:11: rules[3].when: invalid SCIM filter: ...` */
type ParsedFile = ParsedYaml;

interface Origin {
  src: ParsedFile;
  /** Index of the item in the file's own array (accessGroups, rules). */
  index?: number;
}

function parseFile(source: MappingSource, issues: MappingIssue[]): { src: ParsedFile; raw: Record<string, unknown>; data: Mappings } | null {
  const lines = new LineCounter();
  const doc = parseDocument(source.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const src: ParsedFile = { file: source.file, doc, lines };
  if (doc.errors.length > 0) {
    for (const err of doc.errors) issues.push(issueAt(src, err.pos[0], [], `YAML: ${err.message.split('\n')[0]}`));
    return null;
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 1000 });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    issues.push(issueAt(src, 0, [], 'a mapping file must be a YAML mapping with at least `version: 1`'));
    return null;
  }
  const parsed = mappingsSchema.safeParse(raw);
  if (!parsed.success) {
    issues.push(...withNames(raw, zodIssues(src, parsed.error)));
    return null;
  }
  return { src, raw: raw as Record<string, unknown>, data: parsed.data };
}

/** Issues of one file with what their paths name (`rule "dc-ops": when`). */
function withNames<T extends { path: string; label?: string }>(raw: unknown, list: T[]): T[] {
  for (const i of list) {
    const label = namedPath(raw, i.path);
    if (label) i.label = label;
  }
  return list;
}

function where(o: Origin, path: IssuePath, atKey = false): string {
  const { line, col } = o.src.lines.linePos(offsetOf(o.src, path, atKey));
  return `${o.src.file}:${line}:${col}`;
}

/** Parses, merges and compiles mapping documents; throws LockstepError('validation') with every issue. */
export function parseMappingSources(sources: MappingSource[]): LoadedMappings {
  const issues: MappingIssue[] = [];
  const files = sources.map((s) => parseFile(s, issues));

  const base = mappingsSchema.parse({ version: 1 });
  const merged: Mappings = { ...base, classes: {}, accessGroups: [], roles: {}, rules: [], reviews: [], invariants: [] };
  const origins = {
    accessGroups: [] as Origin[],
    rules: [] as Origin[],
    invariants: [] as Origin[],
    roles: new Map<string, Origin>(),
    classes: new Map<string, Origin>(),
    employeeTypes: undefined as Origin | undefined,
    lifecycle: undefined as Origin | undefined,
  };

  // Sections that are one value per policy may be written once; lists and maps merge by id.
  for (const f of files) {
    if (f === null) continue;
    const { src, raw, data } = f;
    for (const key of ['employeeTypes', 'lifecycle'] as const) {
      if (!(key in raw)) continue;
      const prev = origins[key];
      if (prev !== undefined) {
        issues.push(issueAt(src, offsetOf(src, [key], true), [key], `${key} is already defined at ${where(prev, [key], true)}; define it in one file only`));
        continue;
      }
      origins[key] = { src };
      if (key === 'employeeTypes') merged.employeeTypes = data.employeeTypes;
      else merged.lifecycle = data.lifecycle;
    }
    const rawClasses = (raw.classes ?? {}) as Record<string, unknown>;
    for (const [c, policy] of Object.entries(data.classes)) {
      if (policy === undefined || !(c in rawClasses)) continue;
      const prev = origins.classes.get(c);
      if (prev !== undefined) {
        issues.push(issueAt(src, offsetOf(src, ['classes', c], true), ['classes', c], `class ${c} is already defined at ${where(prev, ['classes', c], true)}`));
        continue;
      }
      origins.classes.set(c, { src });
      merged.classes[c as keyof Mappings['classes']] = policy;
    }
    for (const [id, bundle] of Object.entries(data.roles)) {
      const prev = origins.roles.get(id);
      if (prev !== undefined) {
        issues.push(
          issueAt(
            src,
            offsetOf(src, ['roles', id], true),
            ['roles', id],
            `duplicate role bundle id "${id}" (first defined at ${where(prev, ['roles', id], true)})`,
          ),
        );
        continue;
      }
      origins.roles.set(id, { src });
      merged.roles[id] = bundle;
    }
    data.accessGroups.forEach((g, index) => {
      merged.accessGroups.push(g);
      origins.accessGroups.push({ src, index });
    });
    data.rules.forEach((r, index) => {
      merged.rules.push(r);
      origins.rules.push({ src, index });
    });
    for (const r of data.reviews) merged.reviews.push(r);
    data.invariants.forEach((x, index) => {
      merged.invariants.push(x);
      origins.invariants.push({ src, index });
    });
  }

  // Cross-file checks only make sense once every file parsed: a broken file's groups would
  // otherwise show up as a flood of "unknown access group" errors.
  if (files.every((f) => f !== null)) {
    const locate = (path: IssuePath): { origin: Origin; path: IssuePath } | undefined => {
      const [head, second] = path;
      if ((head === 'accessGroups' || head === 'rules' || head === 'invariants') && typeof second === 'number') {
        const origin = origins[head][second];
        return { origin, path: [head, origin.index ?? second, ...path.slice(2)] };
      }
      if (head === 'roles' && typeof second === 'string') {
        const origin = origins.roles.get(second);
        return origin && { origin, path };
      }
      return undefined;
    };
    for (const issue of checkMappings(merged)) {
      const at = locate(issue.path);
      const fallback = files.find((f) => f !== null)?.src;
      const src = at?.origin.src ?? fallback;
      if (src === undefined) continue;
      const filePath = at?.path ?? issue.path;
      const related = issue.related && locate(issue.related);
      const message = related ? `${issue.message} (first defined at ${where(related.origin, related.path)})` : issue.message;
      issues.push(issueAt(src, offsetOf(src, filePath), filePath, message));
    }
  }

  if (issues.length > 0) {
    // rules and access groups by their id, not their index (issue 26)
    for (const i of issues) {
      if (i.label) continue;
      const raw = files.find((f) => f?.src.file === i.file)?.raw;
      const label = raw ? namedPath(raw, i.path) : null;
      if (label) i.label = label;
    }
    const order = new Map(sources.map((s, i) => [s.file, i]));
    issues.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line || a.column - b.column);
    throw new LockstepError(
      'validation',
      `mappings are invalid (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${issues.map(formatIssue).join('\n')}`,
      { field: issues[0].path || undefined, details: issues },
    );
  }
  return { mappings: merged, policy: compile(merged), files: sources.map((s) => s.file) };
}

/** One mapping document from text (tests, the API's dry-run). */
export function parseMappings(text: string, fileName: string): LoadedMappings {
  return parseMappingSources([{ file: fileName, text }]);
}

/** The mapping files `paths` name: files as they are, directories' *.yaml / *.yml (not recursive), sorted. */
async function resolveMappingFiles(paths: string | string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of Array.isArray(paths) ? paths : [paths]) {
    let info;
    try {
      info = await stat(p);
    } catch (e) {
      throw new LockstepError('config', `mappings: cannot read ${p}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, field: 'mappings' });
    }
    if (info.isDirectory()) {
      // *.test.yaml beside the mappings are mapping tests (policy/tests.ts), not mappings
      const names = (await readdir(p)).filter((n) => /\.ya?ml$/i.test(n) && !/\.test\.ya?ml$/i.test(n)).sort();
      if (names.length === 0) throw new LockstepError('config', `mappings: no *.yaml or *.yml files in ${p}`, { field: 'mappings' });
      out.push(...names.map((n) => join(p, n)));
    } else {
      out.push(p);
    }
  }
  return [...new Set(out)];
}

/** Loads, merges and compiles mapping files or directories. */
export async function loadMappings(paths: string | string[]): Promise<LoadedMappings> {
  const files = await resolveMappingFiles(paths);
  if (files.length === 0) throw new LockstepError('config', 'mappings: no files given', { field: 'mappings' });
  const sources = await Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
  return parseMappingSources(sources);
}
