import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, ValidateFunction } from 'ajv';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

/**
 * What every connector's vendor-spec test (connectors/NAME/spec.test.ts) shares: where the
 * vendor's reference document lies (../shared/reference, beside the checkout, never in it), the
 * skip with a clear message where it is absent, reading it, and the JSON Schema validators it
 * compiles, cached, with their errors in words. Each test keeps what is its vendor's own: how
 * that document's format (Swagger 2.0, OpenAPI 3.x, a Postman collection, gRPC descriptors)
 * says what an exchange may be. Test support: only tests import it (ajv is a dev dependency).
 */

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A vendor reference document, by its path under ../shared/reference. */
export interface ReferenceFile {
  path: string;
  present: boolean;
  /** Why a test that needs it is skipped where it is absent. */
  skipMessage: string;
  /** The document, parsed: JSON or YAML by its extension (throws where absent). */
  load<T>(): T;
  /** The raw bytes (a tar of descriptors, say). */
  bytes(): Buffer;
}

export function referenceFile(relative: string, what = 'the reference document'): ReferenceFile {
  const path = resolve(REPO_ROOT, '../shared/reference', relative);
  const present = existsSync(path);
  return {
    path,
    present,
    skipMessage: `${what} is not here (${path}); it is not distributed with lockstep`,
    load<T>(): T {
      const text = readFileSync(path, 'utf8');
      // reference documents are trusted and alias-heavy (cc_rest.yaml): no alias limit
      return (/\.ya?ml$/i.test(path) ? parseYaml(text, { maxAliasCount: -1 }) : JSON.parse(text)) as T;
    },
    bytes: () => readFileSync(path),
  };
}

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
export const addFormats: FormatsPlugin = (addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? (addFormatsModule as unknown as FormatsPlugin);

/** Validators compiled once per key, on an Ajv the caller configured (draft-07 or 2020-12, formats). */
export class SchemaCache {
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(readonly ajv: Ajv) {}

  /** The validator for `key`, compiled from `schema()` the first time. */
  get(key: string, schema: () => unknown): ValidateFunction {
    let v = this.cache.get(key);
    if (!v) {
      v = this.ajv.compile(schema() as object);
      this.cache.set(key, v);
    }
    return v;
  }

  /** A JSON pointer (as path segments) into a document added to the Ajv under `id`, as a $ref. */
  static pointer(id: string, segments: string[]): string {
    return `${id}#/${segments.map((p) => encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/')}`;
  }

  errorsOf(v: ValidateFunction): string {
    return this.ajv.errorsText(v.errors, { separator: '\n' });
  }
}
