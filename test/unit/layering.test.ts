/**
 * The layering of DESIGN.md ("A driver knows nothing of policy; policy knows nothing of
 * drivers; reconcile joins them. Sources only write identities and enqueue ids. Nothing
 * imports from `api/` or `cli.ts`."), checked over the import graph of src/ and connectors/.
 * The graph is read with the TypeScript parser (no type checking, so it takes about a second):
 * static imports and re-exports, `import type`, `import('…')` types and dynamic imports alike.
 * Test files (`*.test.ts`, such as a connector's own tests) are not part of it: a test may
 * reach for the composition root to check a registration.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface ImportEdge {
  from: string;
  to: string;
  line: number;
  typeOnly: boolean;
  dynamic: boolean;
}

interface Graph {
  files: string[];
  edges: ImportEdge[];
  /** `x.query(…)` calls: SQL. */
  queries: Array<{ file: string; line: number }>;
  /** `import(expr)` with a specifier that is not a string literal: an edge this check cannot see. */
  opaque: Array<{ file: string; line: number }>;
}

function tsFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    // a connector packaged on its own (connectors/sailpoint-isc) has its own dependencies and build
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) tsFiles(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts') && !p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** A relative specifier → the .ts file it names (NodeNext: `./x.js` is ./x.ts); packages → null. */
function resolveSpecifier(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const p = resolve(dirname(from), spec);
  for (const c of [p.replace(/\.js$/, '.ts'), p, `${p}.ts`, join(p, 'index.ts')]) {
    if (existsSync(c) && statSync(c).isFile()) return c;
  }
  return p;
}

function readGraph(root: string): Graph {
  const files = [...tsFiles(join(root, 'src')), ...tsFiles(join(root, 'connectors'))];
  const g: Graph = { files, edges: [], queries: [], opaque: [] };
  for (const file of files) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
    const edge = (n: ts.Node, spec: string, typeOnly: boolean, dynamic: boolean) => {
      const to = resolveSpecifier(file, spec);
      if (to) g.edges.push({ from: file, to, line: lineOf(n), typeOnly, dynamic });
    };
    const visit = (n: ts.Node): void => {
      if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
        const c = n.importClause;
        const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
        const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
        edge(n, n.moduleSpecifier.text, typeOnly, false);
      } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
        const named = n.exportClause && ts.isNamedExports(n.exportClause) ? n.exportClause.elements : undefined;
        edge(n, n.moduleSpecifier.text, n.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)), false);
      } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const a = n.arguments[0];
        if (a && ts.isStringLiteralLike(a)) edge(n, a.text, false, true);
        else g.opaque.push({ file, line: lineOf(n) });
      } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
        edge(n, n.argument.literal.text, true, false);
      } else if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'query') {
        g.queries.push({ file, line: lineOf(n) });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return g;
}

/** Strongly connected components with more than one file (or a file importing itself): the cycles. */
function cycles(g: Graph): string[][] {
  const adj = new Map<string, string[]>(g.files.map((f) => [f, []]));
  // an edge to what is not a file of the graph (a .d.ts, a file not there) cannot close a cycle
  for (const e of g.edges) if (adj.has(e.to)) adj.get(e.from)?.push(e.to);
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of adj.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || adj.get(v)!.includes(v)) out.push(scc);
  };
  for (const f of g.files) if (!index.has(f)) connect(f);
  return out;
}

interface Rule {
  name: string;
  from: RegExp;
  to: RegExp;
  /** Imports allowed anyway (paths relative, with /). */
  except?: (from: string, to: string, e: ImportEdge) => boolean;
}

// Paths are relative to the repository root, with forward slashes.
const RULES: Rule[] = [
  {
    name: 'nothing imports src/api (the composition root src/runtime/serve.ts mounts the app)',
    from: /^/,
    to: /^src\/api\//,
    except: (from) => from.startsWith('src/api/') || from === 'src/runtime/serve.ts',
  },
  { name: 'nothing imports src/cli.ts', from: /^/, to: /^src\/cli\.ts$/ },
  {
    name: 'nothing imports the CLI commands (src/cli.ts runs them)',
    from: /^/,
    to: /^src\/cli\//,
    except: (from) => from === 'src/cli.ts' || from.startsWith('src/cli/'),
  },
  { name: 'a driver knows nothing of connectors (src/runtime registers them)', from: /^src\/drivers\//, to: /^connectors\// },
  { name: 'policy knows nothing of drivers, reconcile, queue or store', from: /^src\/policy\//, to: /^src\/(drivers|reconcile|queue|store)\// },
  { name: 'a driver knows nothing of policy or reconcile', from: /^(src\/drivers|connectors)\//, to: /^src\/(policy|reconcile)\// },
  // governance (requests, reviews, exceptions, incidents, reports) is the floor above reconcile:
  // what a plan needs of it (exceptions and requests in force) the plan reads from the store
  {
    name: 'governance is the floor above reconcile: reconcile and the floors below it know nothing of governance',
    from: /^(src\/(reconcile|policy|store|domain|drivers|sources)|connectors)\//,
    to: /^src\/governance\//,
  },
  { name: 'a connector uses only the driver contract and the domain', from: /^connectors\//, to: /^src\/(?!drivers\/|domain\/)/ },
  {
    name: 'a connector does not import another connector',
    from: /^connectors\//,
    to: /^connectors\//,
    except: (from, to) => from.split('/')[1] === to.split('/')[1],
  },
  {
    name: 'sources only write identities (store) and enqueue ids (a callback)',
    from: /^src\/sources\//,
    to: /^src\/(policy|reconcile|queue|drivers|runtime|metrics)\//,
    // the driver contract's types (e.g. the account limits a SCIM write is checked against) are vocabulary
    except: (_from, to, e) => e.typeOnly && to === 'src/drivers/contract.ts',
  },
  { name: 'the store knows only the domain', from: /^src\/store\//, to: /^(src\/(?!store\/|domain\/)|connectors\/)/ },
  { name: 'the domain has no dependencies', from: /^src\/domain\//, to: /^(src\/(?!domain\/)|connectors\/)/ },
];

function breaches(root: string): string[] {
  const g = readGraph(root);
  const rel = (p: string) => relative(root, p).split(sep).join('/');
  const out: string[] = [];
  for (const c of cycles(g)) out.push(`import cycle: ${c.map(rel).sort().join(' ↔ ')}`);
  for (const e of g.edges) {
    const from = rel(e.from);
    const to = rel(e.to);
    for (const r of RULES) {
      if (r.from.test(from) && r.to.test(to) && !r.except?.(from, to, e)) {
        out.push(`${r.name}: ${from}:${e.line} imports ${to}${e.typeOnly ? ' (types)' : ''}${e.dynamic ? ' (dynamic)' : ''}`);
      }
    }
  }
  for (const q of g.queries) {
    const file = rel(q.file);
    if (!file.startsWith('src/store/')) out.push(`SQL outside src/store: ${file}:${q.line} calls .query( (make it a store function)`);
  }
  for (const o of g.opaque) out.push(`dynamic import with a computed specifier (this check cannot follow it): ${rel(o.file)}:${o.line}`);
  return out;
}

describe('layering', () => {
  it('holds in src/ and connectors/: no cycles, no breach of the layers, SQL only in the store', () => {
    const g = readGraph(ROOT);
    expect(g.files.length).toBeGreaterThan(50);
    expect(g.edges.length).toBeGreaterThan(200);
    expect(breaches(ROOT)).toEqual([]);
  });

  describe('catches what it is meant to catch (planted in a scratch tree)', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'lockstep-layering-'));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));
    const put = (path: string, text: string) => {
      mkdirSync(dirname(join(scratch, path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    };
    put('src/cli.ts', "import { createApp } from './api/index.js';\n");
    put('src/api/index.ts', 'export const createApp = () => null;\n');
    put('src/runtime/serve.ts', "import { createApp } from '../api/index.js';\nexport const serve = createApp;\n");
    put(
      'src/runtime/engine.ts',
      "import type { Db } from '../store/index.js';\nexport const engine = async () => import('../../connectors/sim/index.js');\nexport type E = Db;\n",
    );
    put('src/store/index.ts', "export interface Db { query(s: string): unknown }\nexport const ping = (db: Db) => db.query('SELECT 1');\n");
    put(
      'src/drivers/registry.ts',
      "const name = '../../connectors/sim/index.js';\nexport const load = () => import(name);\nexport const eager = () => import('../../connectors/sim/index.js');\n",
    );
    put(
      'connectors/sim/index.ts',
      "import type { Rules } from '../../src/policy/index.js';\nimport '../../src/drivers/registry.js';\nexport type R = Rules;\n",
    );
    put('src/policy/index.ts', "import type { Db } from '../store/index.js';\nexport interface Rules { db: Db }\n");
    put('src/reconcile/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
    put('src/reconcile/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
    put(
      'src/sources/scim.ts',
      "import type { Db } from '../store/index.js';\nexport const write = (db: Db) => db.query('INSERT INTO identities DEFAULT VALUES');\nexport { a } from '../reconcile/a.js';\n",
    );
    put('src/queue/state.ts', "import { createApp } from '../api/index.js';\nexport const s = createApp;\n");
    put('src/governance/reviews.ts', "import { a } from '../reconcile/a.js';\nexport const review = () => a;\n");
    put('src/reconcile/c.ts', "import { review } from '../governance/reviews.js';\nexport const c = review;\n");
    put('src/cli/runs.ts', 'export const runs = () => null;\n');
    put('src/runtime/cli-runs.ts', "export { runs } from '../cli/runs.js';\n");

    const found = () => breaches(scratch);

    it('an import cycle, also through a dynamic import', () => {
      const f = found();
      expect(f).toContain('import cycle: src/reconcile/a.ts ↔ src/reconcile/b.ts');
      // registry → connector (dynamic) → registry
      expect(f).toContain('import cycle: connectors/sim/index.ts ↔ src/drivers/registry.ts');
    });

    it('anything importing src/api or src/cli.ts, except serve mounting the app', () => {
      const f = found();
      expect(f.filter((x) => x.startsWith('nothing imports src/api'))).toEqual([
        'nothing imports src/api (the composition root src/runtime/serve.ts mounts the app): src/cli.ts:1 imports src/api/index.ts',
        'nothing imports src/api (the composition root src/runtime/serve.ts mounts the app): src/queue/state.ts:1 imports src/api/index.ts',
      ]);
    });

    it('drivers importing connectors, policy importing the store, a connector importing policy', () => {
      const f = found();
      expect(f).toContain(
        'a driver knows nothing of connectors (src/runtime registers them): src/drivers/registry.ts:3 imports connectors/sim/index.ts (dynamic)',
      );
      expect(f).toContain('policy knows nothing of drivers, reconcile, queue or store: src/policy/index.ts:1 imports src/store/index.ts (types)');
      expect(f).toContain('a driver knows nothing of policy or reconcile: connectors/sim/index.ts:1 imports src/policy/index.ts (types)');
      expect(f).toContain('sources only write identities (store) and enqueue ids (a callback): src/sources/scim.ts:3 imports src/reconcile/a.ts');
    });

    it('reconcile importing governance (the floor above it), not governance importing reconcile', () => {
      const f = found();
      expect(f.filter((x) => x.startsWith('governance is the floor'))).toEqual([
        'governance is the floor above reconcile: reconcile and the floors below it know nothing of governance: src/reconcile/c.ts:1 imports src/governance/reviews.ts',
      ]);
    });

    it('anything but src/cli.ts importing the CLI commands', () => {
      const f = found();
      expect(f.filter((x) => x.startsWith('nothing imports the CLI commands'))).toEqual([
        'nothing imports the CLI commands (src/cli.ts runs them): src/runtime/cli-runs.ts:1 imports src/cli/runs.ts',
      ]);
    });

    it('SQL outside src/store, and a dynamic import it cannot follow', () => {
      const f = found();
      expect(f.filter((x) => x.startsWith('SQL'))).toEqual(['SQL outside src/store: src/sources/scim.ts:2 calls .query( (make it a store function)']);
      expect(f).toContain('dynamic import with a computed specifier (this check cannot follow it): src/drivers/registry.ts:2');
    });

    it('nothing else in the scratch tree', () => {
      expect(found()).toHaveLength(13);
    });
  });
});
