import { describe, expect, it } from 'vitest';
import { cutTo, fitAccountFields } from '../../../src/drivers/fit.js';

describe('fitting a person to what a lock system can hold (drivers/fit.ts)', () => {
  it('sends a name within the limits as it is, and says nothing', () => {
    expect(fitAccountFields({ displayName: 'Ada Lovelace', userName: 'ada', externalId: 'E1', email: 'ada@example.com' }, { displayName: 50 })).toEqual({
      displayName: 'Ada Lovelace',
      email: 'ada@example.com',
      fitted: [],
    });
  });

  it('cuts a name over the limit there, and says from what to what', () => {
    const f = fitAccountFields({ displayName: 'x'.repeat(600), userName: 'u', externalId: 'E' }, { displayName: 500 });
    expect(f.displayName).toHaveLength(500);
    expect(f.fitted).toEqual(["displayName: 600 characters cut to the system's 500"]);
  });

  it('never leaves half a surrogate pair at the cut', () => {
    expect(cutTo(`ab${'😀'}`, 3)).toBe('ab');
    expect(cutTo(`ab${'😀'}`, 4)).toBe(`ab${'😀'}`);
  });

  it('gives an empty, blank or control-only name the userName, then the externalId', () => {
    for (const displayName of ['', '  ', '\u0007']) {
      expect(fitAccountFields({ displayName, userName: 'ada', externalId: 'E1' })).toMatchObject({
        displayName: 'ada',
        fitted: ['displayName: empty at source, userName used'],
      });
    }
    expect(fitAccountFields({ displayName: '', userName: ' ', externalId: 'E1' })).toMatchObject({
      displayName: 'E1',
      fitted: ['displayName: empty at source, externalId used'],
    });
    // no displayName at all is the ordinary case (SCIM's is optional): the userName, and nothing to say
    expect(fitAccountFields({ userName: 'ada', externalId: 'E1' })).toEqual({ displayName: 'ada', fitted: [] });
  });

  it('replaces control characters in a name, and says so', () => {
    expect(fitAccountFields({ displayName: 'Ada\u0000Love\u2028lace', userName: 'ada', externalId: 'E1' })).toEqual({
      displayName: 'Ada Love lace',
      fitted: ['displayName: control characters removed'],
    });
  });

  it('does not send an email over the limit (a cut address is a wrong one)', () => {
    const f = fitAccountFields({ displayName: 'A', userName: 'a', externalId: 'E', email: `${'m'.repeat(60)}@example.com` }, { email: 64 });
    expect(f.email).toBeUndefined();
    expect(f.fitted).toEqual(["email: 72 characters, over the system's 64: not sent"]);
  });
});
