import type { Identity } from '../../../src/domain/identity.js';
import { parseMappings, type CompiledPolicy } from '../../../src/policy/index.js';

let seq = 0;

/** An identity as the store would hold it; only what a test cares about needs saying. */
export function person(overrides: Partial<Identity> = {}): Identity {
  seq += 1;
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    source: 'hr',
    externalId: `E${seq}`,
    userName: `user${seq}`,
    active: true,
    employeeType: 'Employee',
    groups: [],
    roles: [],
    attributes: {},
    deletedAt: null,
    createdAt: '2020-01-01T00:00:00.000Z',
    updatedAt: '2020-01-01T00:00:00.000Z',
    version: 1,
    ...overrides,
  };
}

export function policyOf(yaml: string): CompiledPolicy {
  return parseMappings(yaml, 'test.yaml').policy;
}
