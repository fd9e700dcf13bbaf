import { describe, expect, it } from 'vitest';
import { findInputProblem, findPathProblem, MAX_JSON_DEPTH, unstorableReason } from '../../../src/domain/input.js';

describe('hostile input checks (src/domain/input.ts)', () => {
  it('finds NUL characters and lone surrogates, and lets paired surrogates through', () => {
    expect(unstorableReason('plain é 界')).toBeNull();
    expect(unstorableReason('emoji 😀 ok')).toBeNull();
    expect(unstorableReason('a\u0000b')).toMatch(/NUL character \(at position 1\)/);
    expect(unstorableReason('\ud800')).toMatch(/lone UTF-16 surrogate \(U\+D800 at position 0\)/);
    expect(unstorableReason('x\udc00')).toMatch(/U\+DC00 at position 1/);
    expect(unstorableReason('\ud83d\ud83d')).toMatch(/U\+D83D at position 0/);
  });

  it('names the path of the first problem in keys and values', () => {
    expect(findInputProblem({ userName: 'ok', emails: [{ value: 'ok' }, { value: 'a\u0000' }] })).toEqual({
      field: 'emails[1].value',
      reason: expect.stringMatching(/NUL/),
    });
    expect(findInputProblem({ 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { 'bad\u0000': 1 } })?.field).toBe(
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User["bad\\u0000"]',
    );
    expect(findInputProblem({ a: [1, true, null, 'fine'] })).toBeNull();
  });

  it('refuses nesting deeper than the limit without recursing (10,000 levels)', () => {
    let v: unknown = 1;
    for (let i = 0; i < 10_000; i++) v = [v];
    expect(findInputProblem(v)?.reason).toBe(`is nested more than ${MAX_JSON_DEPTH} levels deep`);
    let ok: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) ok = { a: ok };
    expect(findInputProblem(ok)).toBeNull();
  });

  it('names a bad path segment after its route parameter', () => {
    const routes = ['/Users/:id', '/runs/:id/approve', '/credentials/:system/:id/lost'];
    expect(findPathProblem('/Users/%ZZ', routes)).toEqual({ field: 'id', reason: expect.stringMatching(/not valid percent-encoded UTF-8/) });
    expect(findPathProblem('/runs/%E0%A4%A/approve', routes)?.field).toBe('id');
    expect(findPathProblem('/credentials/%ED%A0%80/x/lost', routes)?.field).toBe('system');
    expect(findPathProblem('/credentials/dc1/a%00/lost', routes)).toEqual({ field: 'id', reason: expect.stringMatching(/NUL/) });
    expect(findPathProblem('/elsewhere/%ZZ', routes)?.field).toBe('path');
    expect(findPathProblem('/Users/caf%C3%A9', routes)).toBeNull();
  });
});
