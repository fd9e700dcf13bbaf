import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { LockstepError } from '../../../src/domain/errors.js';

const yaml = (body: string) => `mappings: ./mappings
systems:
  dc1:
    type: simulator
${body}`;

function errorOf(text: string, env: NodeJS.ProcessEnv): string {
  try {
    parseConfig(text, '/etc/lockstep/lockstep.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(LockstepError);
    return (e as LockstepError).message;
  }
  throw new Error('the configuration was accepted');
}

describe('${VAR} in lockstep.yaml', () => {
  it('fills numbers, quoted or not, with or without a default', () => {
    const c = parseConfig(
      `mappings: ./mappings
systems:
  dc1:
    type: simulator
    embedded: { port: "\${SIM_PORT}" }
    rateLimitPerSecond: \${RATE}
queue:
  concurrency: "\${C:-6}"
  schedules: { fullReconcileMs: "\${FULL_MS}" }
executor: { baseDelayMs: " \${BASE} " }
`,
      'lockstep.yaml',
      { SIM_PORT: '8182', RATE: '12.5', FULL_MS: '6e4', BASE: '0' },
    );
    expect(c.systems.dc1.embedded!.port).toBe(8182);
    expect(c.systems.dc1.rateLimitPerSecond).toBe(12.5);
    expect(c.queue.concurrency).toBe(6);
    expect(c.queue.schedules.fullReconcileMs).toBe(60_000);
    expect(c.executor.baseDelayMs).toBe(0);
  });

  it('fills booleans, also inside a source block', () => {
    const c = parseConfig(
      yaml(`sources:
  hr: { type: file, path: ./hr.csv, full: "\${HR_FULL}", minRowsPercent: "\${HR_MIN}" }
scim:
  enabled: \${SCIM_ON}
`),
      'lockstep.yaml',
      { HR_FULL: 'false', HR_MIN: '50', SCIM_ON: 'TRUE' },
    );
    expect(c.sources.hr).toMatchObject({ type: 'file', full: false, minRowsPercent: 50 });
    expect(c.scim.enabled).toBe(true);
  });

  it('keeps text that looks like a number as text where the field is a string', () => {
    const c = parseConfig(
      yaml(`    options: { group: "\${GROUP}" }
scim: { source: "\${SRC}" }
queue: { prefix: "\${PREFIX}" }
`),
      'lockstep.yaml',
      { GROUP: '5120', SRC: '42', PREFIX: 'true' },
    );
    expect(c.systems.dc1.options).toEqual({ group: '5120' });
    expect(c.scim.source).toBe('42');
    expect(c.queue.prefix).toBe('true');
  });

  it('names the field, the variable and the value when the text is not a number or boolean', () => {
    const msg = errorOf(yaml(`queue:\n  concurrency: "\${C}"\nscim: { enabled: "\${S}" }\n`), { C: 'abc', S: 'yes please' });
    expect(msg).toContain('/etc/lockstep/lockstep.yaml:6:16: queue.concurrency: "${C}" resolved to "abc", expected a number');
    expect(msg).toContain('scim.enabled: "${S}" resolved to "yes please", expected a boolean');
    expect(msg).not.toMatch(/received string/);
  });

  it('still checks the range of a substituted number', () => {
    expect(errorOf(yaml(`queue: { concurrency: "\${C}" }\n`), { C: '100' })).toMatch(/queue\.concurrency: Too big/);
    expect(errorOf(yaml(`queue: { concurrency: "\${C}" }\n`), { C: '2.5' })).toMatch(/queue\.concurrency: .*expected int/);
  });

  it('reports an unset variable once, not also as a wrong type', () => {
    const msg = errorOf(yaml(`queue: { concurrency: "\${C}" }\n`), {});
    expect(msg).toContain('queue.concurrency: environment variable C is not set');
    expect(msg.split('\n').filter((l) => l.includes('queue.concurrency'))).toHaveLength(1);
  });

  it('never reads a substituted value as YAML', () => {
    // a value that would add keys if it were parsed again
    expect(errorOf(yaml(`queue: { concurrency: "\${C}" }\n`), { C: '4, prefix: evil' })).toContain('resolved to "4, prefix: evil", expected a number');
    const c = parseConfig(yaml(`queue: { prefix: "\${P}" }\n`), 'lockstep.yaml', { P: 'x\nconcurrency: 1' });
    expect(c.queue.prefix).toBe('x\nconcurrency: 1');
    expect(c.queue.concurrency).toBe(4);
    expect(errorOf(yaml(`scim: { enabled: "\${B}" }\n`), { B: '[true]' })).toContain('expected a boolean');
  });

  it('does not turn text written in the file into a number: only substitution is typed', () => {
    expect(errorOf(yaml(`queue: { concurrency: "8" }\n`), {})).toMatch(/queue\.concurrency: Invalid input: expected number, received string/);
  });
});
