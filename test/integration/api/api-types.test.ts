import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderTypes, TYPES_PATHS } from '../../../scripts/gen-types.js';

/**
 * The console's and the SailPoint connector's wire types are generated from docs/openapi.json
 * (`npm run gen:types`): the committed files are what the script makes of the committed document.
 */
describe('generated API types', () => {
  it.each(TYPES_PATHS.map((p) => [p.slice(p.indexOf('/ui/') >= 0 ? p.indexOf('/ui/') + 1 : p.indexOf('/connectors/') + 1)] as const))(
    '%s is what npm run gen:types writes from docs/openapi.json',
    async (rel) => {
      const path = TYPES_PATHS.find((p) => p.endsWith(rel))!;
      expect(await readFile(path, 'utf8'), `${rel} is stale: run npm run gen:types`).toBe(await renderTypes());
    },
    30_000,
  );
});
