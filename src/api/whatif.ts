import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { LockstepError } from '../domain/errors.js';
import { planDigest, type Operation } from '../domain/plan.js';
import { parseMappingSources, type MappingSource } from '../policy/index.js';
import { buildPlan, formatPlan, type EngineContext } from '../reconcile/index.js';
import { isTestDocument, whatIfTests } from './policy-tests.js';
import { lintWhatIf } from './whatif-lint.js';

/**
 * What-if for the console's mapping editor: the plan a changed set of mapping documents would
 * cause, computed as `lockstep plan` computes it (the same loader, schema and cross-reference
 * checks; buildPlan over every identity and every lock system's actual state), and then
 * thrown away: nothing is applied, no run is recorded, no file is written. Saving stays where
 * mappings live, in version control: the console offers the edited file for download.
 */
export interface WhatIfDeps {
  ctx: EngineContext;
  /** The mapping paths of lockstep.yaml (files or folders, resolved), as the loader reads them. */
  mappingPaths: string[];
  /** Configured lock systems: an access group naming another system is an error, as at start. */
  systems: string[];
}

/** A mapping document by the name the console shows it under; `text` is its YAML. */
const documentSchema = z.object({ file: z.string().min(1).max(500), text: z.string().max(2_000_000) }).strict();
const whatIfBody = z
  .object({
    /** The whole set of mapping documents to plan with (unchanged ones included). */
    files: z.array(documentSchema).min(1).max(200),
  })
  .strict();

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    const field = i.path.join('.') || 'body';
    throw new LockstepError('validation', `${field}: ${i.message}`, { field, details: r.error.issues });
  }
  return r.data;
}

/** The files `paths` name, as the loader resolves them: files as they are, a folder's *.yaml / *.yml, sorted. */
async function mappingFiles(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    // *.test.yaml are mapping tests, not mappings (policy/tests.ts)
    if ((await stat(p)).isDirectory())
      out.push(
        ...(await readdir(p))
          .filter((n) => /\.ya?ml$/i.test(n) && !/\.test\.ya?ml$/i.test(n))
          .sort()
          .map((n) => join(p, n)),
      );
    else out.push(p);
  }
  return [...new Set(out)];
}

/** Display names: the file's base name, made unique with its index when two share one. */
function displayNames(paths: string[]): string[] {
  const seen = new Map<string, number>();
  return paths.map((p) => {
    const b = basename(p);
    const n = seen.get(b) ?? 0;
    seen.set(b, n + 1);
    return n === 0 ? b : `${b} (${n + 1})`;
  });
}

/** One operation's identity across two plans: its key (system, kind, account, group) and what it would set. */
function fingerprint(o: Operation): string {
  return JSON.stringify([o.key, o.validity ?? null, o.credentialState ?? null, o.account ?? null]);
}

export function createWhatIfRouter(deps: WhatIfDeps): Router {
  const r = express.Router();
  // one what-if at a time per process: each reads every lock system twice, and several people
  // previewing at once should queue here rather than multiply that load on the lock systems
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  /** The mapping documents the service runs with, for the editor to start from. */
  r.get(
    '/mappings',
    h(async (_req, res) => {
      const paths = await mappingFiles(deps.mappingPaths);
      const names = displayNames(paths);
      const files = await Promise.all(paths.map(async (p, i) => ({ file: names[i], text: await readFile(p, 'utf8') })));
      res.json({ files });
    }),
  );

  r.post(
    '/plan/what-if',
    h(async (req, res) => {
      const b = parseBody(whatIfBody, req.body);
      // mapping tests sent along (*.test.yaml) are run, not loaded as mappings (api/policy-tests.ts)
      const sources: MappingSource[] = b.files.filter((f) => !isTestDocument(f.file)).map((f) => ({ file: f.file, text: f.text }));
      // throws validation with every issue (file, line, column, path) in details; field = the first path
      const loaded = parseMappingSources(sources);
      const unknown = [...loaded.policy.accessGroups.values()].filter((g) => !deps.systems.includes(g.system));
      if (unknown.length) {
        const i = loaded.mappings.accessGroups.findIndex((g) => g.id === unknown[0].id);
        throw new LockstepError(
          'validation',
          `accessGroups[${i}].system: ${unknown[0].system} is not a configured lock system (configured: ${deps.systems.join(', ')})`,
          {
            field: `accessGroups[${i}].system`,
          },
        );
      }
      // an attribute nothing provides is a 400 naming the rule; rules and bundles matching nobody are warnings (issue 26)
      const lint = await lintWhatIf(deps.ctx, sources, loaded.policy);
      const { built, current } = await oneAtATime(async () => ({
        // the same plan `lockstep plan` builds, under the edited policy; no hooks: a what-if is not a planned run
        built: await buildPlan({ ...deps.ctx, policy: loaded.policy, hooks: undefined }, { kind: 'full' }),
        // and the plan without the edit (one after the other: the lock systems are read twice, not at once), so
        // the console can tell what the edit causes from what is planned anyway (drift, expiries due)
        current: await buildPlan({ ...deps.ctx, hooks: undefined }, { kind: 'full' }),
      }));
      const now = new Set(current.plan.operations.map(fingerprint));
      const edited = new Set(built.plan.operations.map(fingerprint));
      res.json({
        plan: built.plan,
        digest: planDigest(built.plan),
        text: formatPlan(built.plan),
        /** Keys of the operations the edit causes: not in the plan without it. */
        causedByEdit: built.plan.operations.filter((o) => !now.has(fingerprint(o))).map((o) => o.key),
        /** Operations planned without the edit that the edit makes unnecessary. */
        avoidedByEdit: current.plan.operations.filter((o) => !edited.has(fingerprint(o))),
        withoutEdit: { summary: current.plan.summary, operations: current.plan.operations.length },
        /** The mapping tests against the edited mappings (issue 27); a failure does not stop the preview. */
        tests: await whatIfTests(deps.mappingPaths, b.files, loaded.policy),
        applied: false,
        saved: false,
        warnings: lint.map((w) => w.message),
      });
    }),
  );
  return r;
}
