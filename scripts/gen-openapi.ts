/**
 * Writes docs/openapi.json, the admin API's OpenAPI 3.1 document as GET /api/v1/openapi.json
 * serves it (generated from the zod schemas in src/api/). Run: npm run gen:openapi
 * (test/integration/api/openapi.test.ts fails when the file is stale).
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../src/api/openapi.js';

export const OPENAPI_PATH = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

/** The file's exact contents: the served document, two-space indent, trailing newline. */
export function renderOpenApi(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(OPENAPI_PATH, renderOpenApi());
  console.log(`wrote ${OPENAPI_PATH}`);
}
