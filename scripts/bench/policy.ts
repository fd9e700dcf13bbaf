/**
 * bench:policy — the policy evaluator alone: N identities of the bench estate evaluated against
 * its 140-rule mappings, in memory (no store, no lock system). It isolates the per-identity
 * cost that bench:reconcile's plan pays 100k times, so changes to src/policy can be compared.
 *
 *   npm run bench:policy                       # 20,000 identities, 3 rounds each without and with anchors
 *   npm run bench:policy -- --identities 100000 --rounds 5 --no-write
 *   npm run bench:policy -- --no-memo --no-write    # every rule tried on every identity (the rules' memo off)
 *   npm run bench:policy -- --invariants --no-write # with invariants (segregation of duties per site, a class-4 requirement)
 *
 * `cpu ms` is the process's CPU time (user + system, the garbage collector's threads included)
 * during the round: other load on the machine inflates it much less than wall time.
 */
import { parseArgs } from 'node:util';
import type { Identity } from '../../src/domain/identity.js';
import { parseMappings } from '../../src/policy/index.js';
import { evaluate as evaluateRemembered, evaluateUnremembered } from '../../src/policy/evaluate.js';
import { parseIdentityInput } from '../../src/store/identities.js';
import { estateMappings, identityAt, siteIds } from './lib/estate.js';

/** Invariants as an estate would declare them (issue 27): per site, two separations; one class requirement. */
function estateInvariants(sites: number): string {
  const lines = [
    'invariants:',
    '  - { id: class4-no-visitors, scope: { protectionClass: 4 }, require: { when: \'employeeType ne "Visitor"\' }, maxHolders: 100000 }',
  ];
  for (const s of siteIds(sites)) {
    const g = (x: string) => `${s.toLowerCase()}-${x}`;
    lines.push(
      `  - { id: ${g('sod-roles')}, separate: { roles: [${g('facilities')}, ${g('network')}] } }`,
      `  - { id: ${g('sod-rooms')}, separate: { accessGroups: [${g('soc')}, ${g('cages')}] } }`,
    );
  }
  return `${lines.join('\n')}\n`;
}
import { peakRssMiB, publish, type Cell } from './lib/report.js';

const { values: args } = parseArgs({
  options: {
    identities: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    sites: { type: 'string', default: '20' },
    'no-memo': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    invariants: { type: 'boolean', default: false },
  },
});
const N = Number(args.identities);
const ROUNDS = Number(args.rounds);
const SITES = Number(args.sites);
const DAY = 86_400_000;
const evaluate = args['no-memo'] ? evaluateUnremembered : evaluateRemembered;

async function main(): Promise<void> {
  const { policy } = parseMappings(estateMappings(SITES).yaml + (args.invariants ? estateInvariants(SITES) : ''), 'bench-mappings.yaml');
  const base = Date.now();
  const identities: Identity[] = [];
  for (let i = 0; i < N; i++) {
    identities.push({
      ...parseIdentityInput(identityAt(i, { sites: SITES, seed: 7, baseMs: base })),
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      deletedAt: null,
      createdAt: new Date(base).toISOString(),
      updatedAt: new Date(base).toISOString(),
      version: 1,
    });
  }
  const now = new Date(base + 3_600_000);
  // anchors as a converged estate has them: every entitlement began at one run's instant
  const since = new Date(base - 30 * DAY).toISOString();
  const anchored = identities.map((i) => Object.fromEntries(evaluate(i, policy, { now }).entitlements.map((e) => [e.accessGroup.id, since])));

  const rows: Cell[][] = [];
  for (const withAnchors of [false, true]) {
    for (let r = 1; r <= ROUNDS; r++) {
      const t = performance.now();
      const cpu = process.cpuUsage();
      let entitlements = 0;
      for (let k = 0; k < identities.length; k++) {
        entitlements += evaluate(identities[k], policy, { now, ...(withAnchors ? { anchors: anchored[k] } : {}) }).entitlements.length;
      }
      const ms = performance.now() - t;
      const used = process.cpuUsage(cpu);
      const cpuMs = (used.user + used.system) / 1000;
      rows.push([
        withAnchors ? 'with anchors' : 'no anchors',
        r,
        N,
        entitlements,
        Math.round(ms),
        Math.round(cpuMs),
        Math.round((ms * 1000) / N),
        Math.round((N / ms) * 1000),
      ]);
      process.stdout.write(`${withAnchors ? 'anchors' : 'plain'} round ${r}: ${ms.toFixed(0)} ms (cpu ${cpuMs.toFixed(0)} ms)\n`);
    }
  }
  const shape = estateMappings(SITES).shape;
  await publish(
    'bench:policy',
    'bench:policy',
    [
      {
        title: `Policy evaluation: ${shape.rules} rules, ${shape.roles} role bundles, ${shape.accessGroups} access groups${args.invariants ? `, ${policy.invariants.list.length} invariants` : ''} (in memory, one thread${args['no-memo'] ? ", rules' memo off" : ''})`,
        headers: ['case', 'round', 'identities', 'entitlements', 'ms', 'cpu ms', 'µs/identity', 'identities/s'],
        rows,
        notes: [`peak RSS ${peakRssMiB()} MiB; round 1 includes JIT warm-up`],
      },
    ],
    { write: !args['no-write'] },
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:policy failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
