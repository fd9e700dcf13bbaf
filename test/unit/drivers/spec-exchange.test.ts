import { describe, expect, it } from 'vitest';
import { referenceFile } from '../../../src/drivers/spec-exchange.js';

describe('vendor reference documents for the spec tests (src/drivers/spec-exchange.ts)', () => {
  it('says a document that is not beside the checkout is absent, with a skip message naming where it looked', () => {
    const r = referenceFile('nobody/none.yaml', 'the nobody reference');
    expect(r.present).toBe(false);
    expect(r.path).toMatch(/shared\/reference\/nobody\/none\.yaml$/);
    expect(r.skipMessage).toBe(`the nobody reference is not here (${r.path}); it is not distributed with lockstep`);
    expect(() => r.load()).toThrow(/ENOENT/);
  });
});
