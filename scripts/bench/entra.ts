/**
 * bench:entra — ingest of N users and G groups from a local fake Graph through delta pages,
 * then a delta of C changes. Targets (issue 7, 2 cores): 100k users ≤ 60 s, 1k changes ≤ 5 s.
 *
 *   npm run bench:entra -- [--users 100000] [--groups 1000] [--changes 1000] [--page 200] [--no-write]
 *
 * The fake Graph (src/sources/entra/fake-graph.ts) runs in this process and serves pages of
 * `--page` objects (Graph's own user delta pages hold up to a few hundred); lockstep's store is a
 * fresh PostgreSQL database, dropped at the end.
 */
import { parseArgs } from 'node:util';
import { FakeGraph } from '../../src/sources/entra/fake-graph.js';
import { entraSourceSchema, pullEntra } from '../../src/sources/entra/index.js';
import { countIdentities } from '../../src/store/index.js';
import { createBenchStore } from './lib/store.js';
import { peakRssMiB, publish, since, verdict } from './lib/report.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    groups: { type: 'string', default: '1000' },
    changes: { type: 'string', default: '1000' },
    page: { type: 'string', default: '200' },
    'no-write': { type: 'boolean', default: false },
  },
});
const USERS = Number(values.users);
const GROUPS = Number(values.groups);
const CHANGES = Math.min(Number(values.changes), USERS);
const PAGE = Number(values.page);

const guid = (kind: number, i: number) => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const DEPTS = ['DC Operations', 'Facilities', 'Security', 'Network', 'Finance', 'Sales', 'HR', 'Engineering'];

async function main(): Promise<void> {
  const graph = await FakeGraph.start({ pageSize: PAGE });
  const store = await createBenchStore('postgres', { poolSize: 10 });
  try {
    const t0 = performance.now();
    for (let i = 0; i < USERS; i++) {
      graph.upsertUser({
        id: guid(1, i),
        employeeId: `E${i}`,
        userPrincipalName: `user${i}@contoso.example`,
        displayName: `User ${i}`,
        accountEnabled: true,
        employeeType: i % 10 === 0 ? 'Contractor' : 'Employee',
        department: DEPTS[i % DEPTS.length],
        jobTitle: 'Staff',
        officeLocation: `DC${i % 4}`,
        employeeHireDate: '2020-01-01T00:00:00Z',
      });
    }
    for (let g = 0; g < GROUPS; g++) graph.upsertGroup(guid(2, g), `Group ${g}`);
    // every user in three groups: group memberships span many pages, as large tenants' do
    for (let i = 0; i < USERS; i++) for (let k = 0; k < 3; k++) graph.addMember(guid(2, (i * 7 + k * 131) % GROUPS), guid(1, i));
    const seedMs = since(t0);

    const source = {
      ...entraSourceSchema.parse({ type: 'entra', tenantId: guid(9, 1), clientId: guid(9, 2), auth: 'none', graphBaseUrl: graph.url, groups: 'all' }),
      name: 'entra',
    };
    let changed = 0;
    const onChange = (ids: string[]) => void (changed += ids.length);

    const r0 = graph.requests;
    const t1 = performance.now();
    const initial = await pullEntra({ db: store.db, source, onChange });
    const initialMs = since(t1);
    const initialRequests = graph.requests - r0;
    const identities = await countIdentities(store.db, { source: 'entra' });
    const initialChanged = changed;

    // the delta: department moves, disabled accounts and group membership changes
    changed = 0;
    for (let c = 0; c < CHANGES; c++) {
      const i = (c * 97) % USERS;
      if (c % 10 === 0) {
        graph.upsertUser({
          id: guid(1, i),
          employeeId: `E${i}`,
          userPrincipalName: `user${i}@contoso.example`,
          displayName: `User ${i}`,
          accountEnabled: false,
          employeeType: 'Employee',
          department: DEPTS[i % DEPTS.length],
          jobTitle: 'Staff',
          officeLocation: `DC${i % 4}`,
          employeeHireDate: '2020-01-01T00:00:00Z',
        });
      } else if (c % 2 === 0) {
        graph.upsertUser({
          id: guid(1, i),
          employeeId: `E${i}`,
          userPrincipalName: `user${i}@contoso.example`,
          displayName: `User ${i}`,
          accountEnabled: true,
          employeeType: 'Employee',
          department: DEPTS[(i + 1) % DEPTS.length],
          jobTitle: 'Staff',
          officeLocation: `DC${i % 4}`,
          employeeHireDate: '2020-01-01T00:00:00Z',
        });
      } else {
        graph.removeMember(guid(2, (i * 7) % GROUPS), guid(1, i));
        graph.addMember(guid(2, (i * 7 + 500) % GROUPS), guid(1, i));
      }
    }
    const r1 = graph.requests;
    const t2 = performance.now();
    const delta = await pullEntra({ db: store.db, source, onChange });
    const deltaMs = since(t2);
    const deltaRequests = graph.requests - r1;

    await publish(
      'entra',
      'bench:entra',
      [
        {
          title: `Entra ID ingest through delta queries: ${USERS.toLocaleString('en-US')} users, ${GROUPS.toLocaleString('en-US')} groups (3 memberships per user), pages of ${PAGE}`,
          headers: ['phase', 'time (s)', 'target (s)', 'verdict', 'Graph requests', 'identities changed', 'users/s'],
          rows: [
            ['initial ingest', initialMs / 1000, 60, verdict(initialMs / 1000, 60), initialRequests, initialChanged, Math.round(USERS / (initialMs / 1000))],
            [`delta of ${CHANGES} changes`, deltaMs / 1000, 5, verdict(deltaMs / 1000, 5), deltaRequests, changed, Math.round(CHANGES / (deltaMs / 1000))],
          ],
          notes: [
            `identities stored: ${identities}; initial pull: users ${initial.users?.mode ?? ''}, delta pull: users ${delta.users?.mode ?? ''}; leavers in the delta: ${delta.leavers ?? 0}`,
            `peak RSS of the process (fake Graph included): ${peakRssMiB()} MiB; seeding the fake Graph took ${(seedMs / 1000).toFixed(1)} s (not counted)`,
            'store: PostgreSQL on 127.0.0.1; the fake Graph runs in the same process and shares its CPU',
          ],
        },
      ],
      { write: !values['no-write'] },
    );
  } finally {
    await graph.close();
    await store.drop();
  }
}

await main();
