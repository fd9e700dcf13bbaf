import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { MAPPINGS_SCHEMA_PATH, renderMappingsSchema } from '../../../scripts/gen-mappings-schema.js';

describe('mappings/mappings.schema.json', () => {
  it('matches the zod schema (run npm run gen:schema)', async () => {
    const committed = await readFile(MAPPINGS_SCHEMA_PATH, 'utf8');
    // toEqual on the text: a stale file shows the exact difference to regenerate.
    expect(committed, 'mappings/mappings.schema.json is stale: run npm run gen:schema').toEqual(renderMappingsSchema());
  });

  it('is strict, so editors flag typos as lockstep does', () => {
    const schema = JSON.parse(renderMappingsSchema()) as {
      additionalProperties: boolean;
      required: string[];
      properties: { rules: { items: { additionalProperties: boolean; required: string[] } } };
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['version']);
    expect(schema.properties.rules.items.additionalProperties).toBe(false);
    expect(schema.properties.rules.items.required).toEqual(['id', 'when']);
  });
});
