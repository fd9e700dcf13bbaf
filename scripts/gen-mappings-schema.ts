/**
 * Writes mappings/mappings.schema.json from the zod schema in src/policy/schema.ts, so
 * editors (yaml-language-server, VS Code) validate mapping files as lockstep does.
 * Run: npm run gen:schema   (test/unit/policy/schema.test.ts fails when the file is stale)
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { mappingsJsonSchema } from '../src/policy/schema.js';

export const MAPPINGS_SCHEMA_PATH = fileURLToPath(new URL('../mappings/mappings.schema.json', import.meta.url));

/** The file's exact contents: stable key order, two-space indent, trailing newline. */
export function renderMappingsSchema(): string {
  return `${JSON.stringify(mappingsJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(MAPPINGS_SCHEMA_PATH, renderMappingsSchema());
  console.log(`wrote ${MAPPINGS_SCHEMA_PATH}`);
}
