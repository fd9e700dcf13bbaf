/**
 * A synthetic but realistic estate for the benchmarks: a colocation operator with `sites`
 * data centres, ten access groups per site (EN 50600 classes 1-4), five role bundles per site
 * and seven rules per site, and people whose attributes follow a plausible mix (DC operations,
 * network, facilities, security, office staff, interns, contractors with sponsors and contract
 * ends, visitors, a few leavers and future joiners).
 *
 * Everything is deterministic in (seed, index), so identity i can be regenerated on its own
 * (the churn phase does), and two runs of a bench see the same estate.
 */
import { randomUUID } from 'node:crypto';
import type { IdentityInput } from '../../../src/domain/identity.js';
import type { Queryable } from '../../../src/store/db.js';
import { parseIdentityInput } from '../../../src/store/identities.js';

const DAY = 86_400_000;

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = [
  'Anna',
  'Ben',
  'Chiara',
  'David',
  'Elif',
  'Felix',
  'Grace',
  'Hannah',
  'Ivan',
  'Jana',
  'Karim',
  'Lena',
  'Mateo',
  'Nora',
  'Omar',
  'Paula',
  'Quentin',
  'Rosa',
  'Sven',
  'Tara',
  'Uma',
  'Viktor',
  'Wen',
  'Xavier',
  'Yara',
  'Zoe',
  'Aleksander',
  'Bianca',
  'Carlos',
  'Dana',
  'Emil',
  'Fatima',
  'Georg',
  'Helena',
  'Ines',
  'Jonas',
  'Kofi',
  'Lucia',
  'Marek',
  'Nadia',
];
const LAST = [
  'Schmidt',
  'Keller',
  'Novak',
  'Fischer',
  'Yilmaz',
  'Wagner',
  'Okafor',
  'Richter',
  'Petrov',
  'Dvorak',
  'Haddad',
  'Meyer',
  'Garcia',
  'Larsen',
  'Farouk',
  'Rossi',
  'Dubois',
  'Costa',
  'Berg',
  'Singh',
  'Kowalski',
  'Nielsen',
  'Chen',
  'Moreau',
  'Ahmadi',
  'Weber',
  'Jansen',
  'Silva',
  'Horvat',
  'Ivanova',
  'Lindqvist',
  'Mensah',
  'Nowak',
  'Popescu',
  'Quinn',
  'Romero',
  'Sato',
  'Tanaka',
  'Urban',
  'Varga',
];
const OFFICE_DEPARTMENTS = ['Finance', 'Human Resources', 'Sales', 'Customer Success', 'IT', 'Engineering', 'Legal', 'Procurement'];
const TITLES: Record<string, string[]> = {
  'DC Operations': ['Data Centre Technician', 'Remote Hands Technician', 'Operations Shift Lead', 'Critical Facilities Engineer'],
  'Network Engineering': ['Network Engineer', 'Senior Network Engineer', 'Interconnection Specialist'],
  Facilities: ['Facilities Manager', 'Electrical Engineer', 'HVAC Engineer'],
  Security: ['Security Officer', 'Security Supervisor', 'SOC Analyst'],
  External: ['Contract Electrician', 'HVAC Technician', 'Cleaning Staff', 'Consultant'],
};

export function siteIds(sites: number): string[] {
  return Array.from({ length: sites }, (_, i) => `S${String(i + 1).padStart(2, '0')}`);
}

/** The ten access groups of one site: [suffix, ref suffix, name, class]. */
const SITE_GROUPS: Array<[string, string, string, number]> = [
  ['perimeter', 'PERIM', 'perimeter gates', 1],
  ['lobby', 'LOBBY', 'lobby and visitor area', 1],
  ['offices', 'OFFICE', 'offices', 2],
  ['dock', 'DOCK', 'loading dock and storage', 2],
  ['power', 'POWER', 'power rooms', 3],
  ['cooling', 'COOL', 'cooling plant', 3],
  ['mmr', 'MMR', 'meet-me room', 3],
  ['soc', 'SOC', 'security operations centre', 3],
  ['whitespace', 'WS', 'server whitespace', 4],
  ['cages', 'CAGES', 'customer cages', 4],
];

/** Groups the simulator holds that no mapping declares: lockstep must leave them alone. */
export const UNMANAGED_GROUPS = [{ id: 'LEGACY-CANTEEN', name: 'Canteen (managed by hand)', doors: ['canteen'] }];

export interface EstateShape {
  sites: number;
  accessGroups: number;
  roles: number;
  rules: number;
}

/** The mappings YAML for `sites` sites, all in lock system `system`. */
export function estateMappings(sites: number, system = 'dc1'): { yaml: string; shape: EstateShape } {
  const lines: string[] = [
    'version: 1',
    'employeeTypes: [Employee, Intern]',
    'classes:',
    '  "1": { unusedCredentialDays: 180 }',
    '  "2": { maxValidityDays: 730, unusedCredentialDays: 90 }',
    '  "3": { maxValidityDays: 365, unusedCredentialDays: 60, sponsorRequired: true }',
    '  "4": { maxValidityDays: 180, unusedCredentialDays: 30, sponsorRequired: true }',
    'accessGroups:',
  ];
  let groups = 0;
  let roles = 0;
  let rules = 0;
  for (const s of siteIds(sites)) {
    for (const [id, ref, name, cls] of SITE_GROUPS) {
      lines.push(`  - { id: ${s.toLowerCase()}-${id}, system: ${system}, ref: AG-${s}-${ref}, name: "${s} ${name}", protectionClass: ${cls} }`);
      groups++;
    }
  }
  lines.push('roles:');
  for (const s of siteIds(sites)) {
    const g = (x: string) => `${s.toLowerCase()}-${x}`;
    lines.push(
      `  ${g('office')}:`,
      `    grant: [${g('perimeter')}, ${g('lobby')}, ${g('offices')}]`,
      `    maxProtectionClass: 2`,
      `  ${g('dc-tech')}:`,
      `    include: [${g('office')}]`,
      `    grant: [${g('power')}, ${g('cooling')}, ${g('mmr')}, ${g('whitespace')}, ${g('dock')}]`,
      `    validity: { maxDays: 180 }`,
      `  ${g('network')}:`,
      `    include: [${g('office')}]`,
      `    grant: [${g('mmr')}, ${g('whitespace')}, ${g('cages')}]`,
      `  ${g('facilities')}:`,
      `    include: [${g('office')}]`,
      `    grant: [${g('power')}, ${g('cooling')}, ${g('dock')}]`,
      `    maxProtectionClass: 3`,
      `  ${g('security')}:`,
      `    include: [${g('dc-tech')}, ${g('network')}]`,
      `    grant: [${g('soc')}]`,
    );
    roles += 5;
  }
  lines.push('rules:');
  for (const s of siteIds(sites)) {
    const g = (x: string) => `${s.toLowerCase()}-${x}`;
    const site = `site eq "${s}"`;
    lines.push(
      `  - id: ${g('staff')}`,
      `    when: '${site} and (employeeType eq "Employee" or employeeType eq "Intern")'`,
      `    roles: [${g('office')}]`,
      `  - id: ${g('dc-ops')}`,
      `    when: '${site} and groups eq "DC Operations" and employeeType ne "Contractor"'`,
      `    roles: [${g('dc-tech')}]`,
      `    validity: { until: contractEnd, maxDays: 365 }`,
      `  - id: ${g('network')}`,
      `    when: '${site} and groups eq "Network Engineering" and not (employeeType eq "Contractor")'`,
      `    roles: [${g('network')}]`,
      `  - id: ${g('facilities')}`,
      `    when: '${site} and department eq "Facilities" and employeeType eq "Employee"'`,
      `    roles: [${g('facilities')}]`,
      `  - id: ${g('security')}`,
      `    when: '${site} and (department eq "Security" or roles eq "Security Guard")'`,
      `    roles: [${g('security')}]`,
      `    validity: { until: contractEnd }`,
      `    exemptFromUnusedExpiry: true`,
      `  - id: ${g('contractors')}`,
      `    when: '${site} and employeeType eq "Contractor" and contractEnd pr and sponsor pr'`,
      `    grant: [${g('perimeter')}, ${g('lobby')}, ${g('dock')}]`,
      `    validity: { until: contractEnd }`,
      `  - id: ${g('hvac')}`,
      `    when: '${site} and employeeType eq "Contractor" and roles eq "HVAC Contractor" and sponsor pr'`,
      `    grant: [${g('cooling')}]`,
      `    validity: { until: contractEnd, maxDays: 90 }`,
    );
    rules += 7;
  }
  lines.push('lifecycle:', '  leaver: suspend', '  preHireDays: 7', '  orphans: report');
  return { yaml: `${lines.join('\n')}\n`, shape: { sites, accessGroups: groups, roles, rules } };
}

/** The simulator's groups for these mappings (refs as ids) plus the unmanaged ones. */
export function simulatorGroups(sites: number): Array<{ id: string; name: string; doors: string[] }> {
  const out = [];
  for (const s of siteIds(sites))
    for (const [, ref, name] of SITE_GROUPS) out.push({ id: `AG-${s}-${ref}`, name: `${s} ${name}`, doors: [`${s}-${ref}-door`] });
  return [...out, ...UNMANAGED_GROUPS];
}

export interface GenerateOptions {
  sites: number;
  seed: number;
  /** Dates are drawn relative to this instant (ms), so a run's contracts are in its future. */
  baseMs: number;
  source?: string;
  /** 0 for the estate as seeded; >0 for the version of identity i after a change (mover). */
  generation?: number;
}

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

/** Identity number i of the estate. */
export function identityAt(i: number, o: GenerateOptions): IdentityInput {
  const r = rng((o.seed * 1_000_003 + i * 7919 + (o.generation ?? 0) * 104_729) >>> 0);
  const sites = siteIds(o.sites);
  const first = pick(r, FIRST);
  const last = pick(r, LAST);
  // bigger sites first: a skewed, not uniform, spread
  const site = sites[Math.min(sites.length - 1, Math.floor(r() ** 1.6 * sites.length))];
  const t = r();
  const employeeType = t < 0.78 ? 'Employee' : t < 0.82 ? 'Intern' : t < 0.96 ? 'Contractor' : 'Visitor';
  let department: string;
  if (employeeType === 'Contractor' || employeeType === 'Visitor') department = 'External';
  else {
    const d = r();
    department = d < 0.35 ? 'DC Operations' : d < 0.45 ? 'Network Engineering' : d < 0.53 ? 'Facilities' : d < 0.57 ? 'Security' : pick(r, OFFICE_DEPARTMENTS);
  }
  const groups = [`Site ${site}`, department];
  if (employeeType === 'Employee' || employeeType === 'Intern') groups.push('All Staff');
  if (r() < 0.3) groups.push(pick(r, ['Parking', 'First Aiders', 'Fire Wardens', 'Works Council', 'Green Team']));
  const roles: Array<{ value: string; type?: string }> = [];
  if (department === 'Security') roles.push({ value: 'Security Guard', type: site });
  if (department === 'DC Operations' && r() < 0.4) roles.push({ value: 'DC Technician', type: site });
  if (employeeType === 'Contractor' && r() < 0.3) roles.push({ value: 'HVAC Contractor' });
  const external = employeeType !== 'Employee';
  const hireMs = r() < 0.005 ? o.baseMs + Math.floor(r() * 30) * DAY : o.baseMs - Math.floor(30 + r() * 15 * 365) * DAY;
  const userName = `${first}.${last}.${i}`.toLowerCase();
  const input: IdentityInput = {
    source: o.source ?? 'hr',
    externalId: `E${String(100000 + i)}`,
    userName,
    displayName: `${first} ${last}`,
    active: r() >= 0.015,
    employeeType,
    department,
    jobTitle: pick(r, TITLES[department] ?? ['Specialist', 'Manager', 'Analyst', 'Coordinator']),
    site,
    manager: `E${String(100000 + Math.floor(i / 12) * 12)}`,
    email: `${userName}@example.com`,
    hireDate: isoDate(hireMs),
    groups,
    roles,
    attributes: {
      costCenter: `CC-${site}-${department.slice(0, 3).toUpperCase()}`,
      building: `${site}-B${1 + Math.floor(r() * 3)}`,
      floor: Math.floor(r() * 5),
    },
  };
  if (external && r() < 0.9) input.sponsor = `E${String(100000 + Math.floor(r() * Math.max(1, i)))}`;
  if (employeeType === 'Contractor' || employeeType === 'Intern') input.contractEnd = isoDate(o.baseMs + Math.floor(20 + r() * 380) * DAY);
  if (r() < 0.01) input.leaveDate = isoDate(o.baseMs + Math.floor(5 + r() * 60) * DAY);
  return input;
}

/** A mover: same person, another department and maybe another site. */
export function moverOf(i: number, o: GenerateOptions): IdentityInput {
  const before = identityAt(i, o);
  const after = identityAt(i, { ...o, generation: (o.generation ?? 0) + 1 });
  return {
    ...after,
    source: before.source,
    externalId: before.externalId,
    userName: before.userName,
    displayName: before.displayName,
    email: before.email,
    hireDate: before.hireDate,
    active: true,
  };
}

/**
 * Bulk insert of identities as the store would hold them (validated by the store's own
 * parser): one multi-row INSERT per batch instead of one upsert per person, which would
 * measure the seeding rather than the reconciliation.
 */
export async function insertIdentities(q: Queryable, inputs: IdentityInput[]): Promise<string[]> {
  const ids: string[] = [];
  const cols: [string[], string[], string[], string[], boolean[], string[]] = [[], [], [], [], [], []];
  for (const input of inputs) {
    const data = parseIdentityInput(input);
    const id = randomUUID();
    ids.push(id);
    cols[0].push(id);
    cols[1].push(data.source);
    cols[2].push(data.externalId);
    cols[3].push(data.userName);
    cols[4].push(data.active);
    cols[5].push(JSON.stringify(data));
  }
  await q.query(
    `INSERT INTO identities (id, source, external_id, user_name, active, data)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::jsonb[])`,
    cols,
  );
  return ids;
}

/** Bulk update of identities' data (movers, leavers), bumping versions as the store does. */
export async function updateIdentities(q: Queryable, inputs: IdentityInput[]): Promise<void> {
  if (inputs.length === 0) return;
  const data = inputs.map((i) => parseIdentityInput(i));
  await q.query(
    `UPDATE identities AS t SET user_name = u.user_name, active = u.active, data = u.data, updated_at = now(), version = t.version + 1
     FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::jsonb[]) AS u(source, external_id, user_name, active, data)
     WHERE t.source = u.source AND t.external_id = u.external_id`,
    [data.map((d) => d.source), data.map((d) => d.externalId), data.map((d) => d.userName), data.map((d) => d.active), data.map((d) => JSON.stringify(d))],
  );
}
