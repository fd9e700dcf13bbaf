/**
 * Writes the TypeScript types of the admin API's wire shapes, generated from docs/openapi.json
 * (itself generated from the zod schemas in src/api/) with openapi-typescript: one copy for the
 * web console (ui/src/generated/api.d.ts) and one for the SailPoint connector, a package of its
 * own (connectors/sailpoint-isc/src/generated/lockstep-api.d.ts). The console and the connector
 * alias these instead of declaring the shapes again, so a change in the API's schemas is a type
 * error where they read it. Run: npm run gen:types (after npm run gen:openapi);
 * test/integration/api/api-types.test.ts fails when a file is stale.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const at = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const OPENAPI_PATH = at('../docs/openapi.json');
export const TYPES_PATHS = [at('../ui/src/generated/api.d.ts'), at('../connectors/sailpoint-isc/src/generated/lockstep-api.d.ts')];

const HEADER = '// Generated from docs/openapi.json by `npm run gen:types` (scripts/gen-types.ts): do not edit.\n\n';

/** The files' exact contents, from the OpenAPI document as committed. */
export async function renderTypes(openapi?: string): Promise<string> {
  const doc = JSON.parse(openapi ?? (await readFile(OPENAPI_PATH, 'utf8'))) as Parameters<typeof openapiTS>[0];
  return HEADER + astToString(await openapiTS(doc, { alphabetize: false, exportType: false }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = await renderTypes();
  for (const p of TYPES_PATHS) {
    await writeFile(p, text);
    console.log(`wrote ${p}`);
  }
}
