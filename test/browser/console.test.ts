import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { ServiceFixture, eventually } from '../helpers/serve.js';
import { startOidcProvider, type RunningOidcProvider } from '../helpers/oidc-provider.js';

/**
 * The web console against a real `lockstep serve` (PostgreSQL, Redis, a simulator lock
 * system) with OIDC sign-in through the local test provider: the console's own API routes
 * first (static files, people search, what-if, health), then one Chromium (Debian's, driven by
 * playwright-core) in which people sign in, explain a person, pull an HR export whose leavers
 * are held, fail to approve their own held run, approve it as a second person, and watch the
 * access report change. The browser part is skipped, with a message, when there is no chromium.
 */

const ROOT = join(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? null;
if (!CHROMIUM) console.warn('test/browser: skipping the browser tests: no chromium at /usr/bin/chromium (apt-get install chromium, or set CHROMIUM_PATH)');

const ADMIN_TOKEN = 'admin-token-console-0123456789abcdef';
const N = 8;
const LEAVERS = 6;

function hrCsv(active: (i: number) => boolean): string {
  const rows = ['employeeId,userName,displayName,employeeType,department,active'];
  for (let i = 0; i < N; i++) rows.push(`H${i},hr${i},HR Person ${i},Employee,DC Operations,${active(i)}`);
  return rows.join('\n') + '\n';
}

const MAPPINGS = `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: whitespace, system: dc1, ref: AG-WS, name: Server whitespace, protectionClass: 4 }
  - { id: cage, system: dc1, ref: AG-CAGE, name: Customer cage, protectionClass: 1, owner: alice@example.com }
roles:
  dc-technician: { description: Racks and cables, grant: [whitespace] }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: dc-ops, when: 'department eq "DC Operations"', roles: [dc-technician] }
lifecycle: { leaver: revoke, guard: { maxRevocationsPercent: 100, maxRevocationsAbsolute: 2, minRevocationsToHold: 3, windowMinutes: 60 } }
`;

describe(`the web console${CHROMIUM ? '' : ' (browser tests skipped: no chromium at /usr/bin/chromium)'}`, () => {
  const f = new ServiceFixture({ admin: ADMIN_TOKEN });
  let sim: RunningSimulator;
  let idp: RunningOidcProvider;
  let browser: Browser | null = null;
  const contexts: BrowserContext[] = [];
  const api = (method: string, path: string, body?: unknown) => f.call('api/v1', method, path, body);
  const holders = (group: string) =>
    Array.from({ length: N }, (_, i) => `H${i}`).filter((e) => sim.state.findByExternalId(e)?.memberships.some((m) => m.group === group));

  beforeAll(async () => {
    await f.open();
    // the console as `npm ci` builds it (about a second), so the test sees the current ui/; in
    // the fixture's folder, so it never empties the dist/ui another run or a running serve uses
    execFileSync(process.execPath, [join(ROOT, 'ui/build.mjs'), f.path('ui')], { stdio: 'pipe' });
    process.env.LOCKSTEP_UI_DIR = f.path('ui');
    idp = await startOidcProvider({
      users: [
        { sub: 'olga', name: 'Olga Operator', email: 'olga@example.com', roles: ['Lockstep.Operator', 'Lockstep.Approver'] },
        { sub: 'alice', name: 'Alice Approver', email: 'alice@example.com', roles: ['Lockstep.Approver', 'Lockstep.Viewer', 'Lockstep.Auditor'] },
        { sub: 'vic', name: 'Vic Viewer', email: 'vic@example.com', roles: ['Lockstep.Viewer'] },
      ],
    });
    sim = await startSimulator({
      groups: [
        { id: 'AG-PERIM', name: 'Perimeter', doors: [] },
        { id: 'AG-WS', name: 'Server whitespace', doors: [] },
        { id: 'AG-CAGE', name: 'Customer cage', doors: [] },
      ],
    });
    await f.file(
      'hr.csv',
      hrCsv(() => true),
    );
    await f.file('mappings.yaml', MAPPINGS);
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, format: csv, full: true, columns: { employeeId: externalId } }
auth:
  session: { secret: "a-session-secret-for-the-console-test-0123456789" }
  oidc:
    issuer: "${idp.issuer}"
    clientId: "${idp.clientId}"
    clientSecret: "${idp.clientSecret}"
queue: { prefix: ${f.prefix} }
`);
    await eventually(() => holders('AG-PERIM').length === N && holders('AG-WS').length === N, 'everyone’s doors');
    if (CHROMIUM) {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
    }
  }, 120_000);

  afterAll(async () => {
    delete process.env.LOCKSTEP_UI_DIR;
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await f.close();
    await sim?.close();
    await idp?.close();
  });

  describe('its API and files', () => {
    it('serves the built console at /ui: index.html uncached, hashed assets immutable, every app path the app, a stale asset 404', async () => {
      const index = await fetch(`${f.url}/ui/`);
      expect(index.status).toBe(200);
      expect(index.headers.get('cache-control')).toBe('no-cache');
      expect(index.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
      const html = await index.text();
      const asset = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      expect(asset, html).toBeTruthy();
      const js = await fetch(`${f.url}${asset}`);
      expect(js.status).toBe(200);
      expect(js.headers.get('cache-control')).toMatch(/max-age=31536000.*immutable/);
      const deep = await fetch(`${f.url}/ui/runs?id=x`);
      expect(deep.status).toBe(200);
      expect(await deep.text()).toBe(html);
      expect((await fetch(`${f.url}/ui/assets/index-gone.js`)).status).toBe(404);
    });

    it('answers /ui with a page that says how to build the console when there is no build', async () => {
      const express = (await import('express')).default;
      const { createUiRouter } = await import('../../src/api/ui.js');
      const app = express().use('/ui', createUiRouter({ dir: f.path('no-build-here') }));
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/ui/people`);
        expect(res.status).toBe(503);
        expect(await res.text()).toMatch(/npm run build:ui/);
      } finally {
        server.close();
      }
    });

    it('finds people by name, user name or employee id', async () => {
      const r = await api('GET', '/identities?q=person%203');
      expect(r.status).toBe(200);
      expect(r.json.identities.map((p: { userName: string }) => p.userName)).toEqual(['hr3']);
      expect((await api('GET', '/identities?q=H5')).json.identities[0].displayName).toBe('HR Person 5');
      expect((await api('GET', '/identities?limit=0')).status).toBe(400);
      expect((await api('GET', '/identities?q=hr&deleted=1')).json.identities).toHaveLength(N);
      expect(r.json.identities[0]).toMatchObject({ deleted: false, leaver: false });
    });

    it('plans an edited mapping without applying or saving it, and names the field of an invalid one', async () => {
      const docs = await api('GET', '/mappings');
      expect(docs.json.files).toEqual([{ file: 'mappings.yaml', text: MAPPINGS }]);
      const runsBefore = (await api('GET', '/runs?limit=200')).json.runs.length;
      // drift the plan shows with or without the edit: someone took hr7's perimeter in the lock system
      const h7 = sim.state.findByExternalId('H7')!;
      sim.state.deleteMembership(h7.id, 'AG-PERIM');
      // the whitespace goes to nobody: eight revocations in the plan
      const edited = MAPPINGS.replace(`  - { id: dc-ops, when: 'department eq "DC Operations"', roles: [dc-technician] }\n`, '');
      const r = await api('POST', '/plan/what-if', { files: [{ file: 'mappings.yaml', text: edited }] });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      const revokes = r.json.plan.operations.filter((o: { kind: string; group?: { ref: string } }) => o.kind === 'revoke' && o.group?.ref === 'AG-WS');
      expect(revokes).toHaveLength(N);
      expect(r.json.plan.summary).toMatchObject({ add: 1, destroy: N });
      expect(r.json.text).toMatch(/Plan: 1 to add, 0 to change, 8 to destroy\./);
      expect(r.json).toMatchObject({ applied: false, saved: false, withoutEdit: { operations: 1, summary: { add: 1 } }, avoidedByEdit: [] });
      // what the edit causes: the eight revocations, not the drift's grant
      expect(r.json.causedByEdit.sort()).toEqual(revokes.map((o: { key: string }) => o.key).sort());
      expect(r.json.plan.operations.find((o: { kind: string; userName: string }) => o.kind === 'grant' && o.userName === 'hr7')).toBeTruthy();
      sim.state.putMembership(h7.id, 'AG-PERIM', {});
      expect(holders('AG-WS')).toHaveLength(N);
      expect((await api('GET', '/runs?limit=200')).json.runs.length).toBe(runsBefore);
      expect(await readFile(f.path('mappings.yaml'), 'utf8')).toBe(MAPPINGS);

      const bad = await api('POST', '/plan/what-if', {
        files: [{ file: 'mappings.yaml', text: MAPPINGS.replace('protectionClass: 4', 'protectionClass: 7') }],
      });
      expect(bad.status).toBe(400);
      expect(bad.json.error.field).toBe('accessGroups[1].protectionClass');
      expect(bad.json.error.details[0]).toMatchObject({ file: 'mappings.yaml', line: 4, path: 'accessGroups[1].protectionClass' });
      const system = await api('POST', '/plan/what-if', {
        files: [{ file: 'mappings.yaml', text: MAPPINGS.replace('system: dc1, ref: AG-WS', 'system: dc9, ref: AG-WS') }],
      });
      expect(system.status).toBe(400);
      expect(system.json.error).toMatchObject({ field: 'accessGroups[1].system', message: expect.stringMatching(/dc9 is not a configured lock system/) });
      expect((await api('POST', '/plan/what-if', { files: [] })).json.error.field).toBe('files');
    });

    it('reports health: queue depth, each lock system reachable, revocation latency, history, sources', async () => {
      const r = await api('GET', '/console/health');
      expect(r.status).toBe(200);
      expect(r.json.systems).toEqual([expect.objectContaining({ system: 'dc1', reachable: true, error: null })]);
      expect(r.json.overdue.count).toBe(0);
      expect(r.json.sources).toEqual([{ name: 'hr', type: 'file' }]);
      expect(typeof r.json.queued).toBe('number');
      expect(r.json.latency.revocation).toHaveProperty('buckets');
      expect(r.json.history.length).toBeGreaterThanOrEqual(1);
    });

    it('lists the newest audit entries first, of a subject and from an instant, to auditors only', async () => {
      const all = await api('GET', '/console/audit?limit=5');
      expect(all.status).toBe(200);
      const seqs = all.json.entries.map((e: { seq: number }) => e.seq);
      expect(seqs).toHaveLength(5);
      expect(seqs).toEqual([...seqs].sort((a: number, b: number) => b - a));
      expect(all.json.more).toBe(true);
      const newest = (await api('GET', '/audit?limit=10000')).json.entries.at(-1);
      expect(seqs[0]).toBe(newest.seq);
      const h3 = (await api('GET', '/identities?q=hr3')).json.identities[0].id;
      const mine = await api('GET', `/console/audit?subject=${h3}`);
      expect(mine.json.entries.length).toBeGreaterThan(0);
      expect(mine.json.entries.every((e: { subject: string }) => e.subject === h3)).toBe(true);
      expect((await api('GET', `/console/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).json.entries).toEqual([]);
      expect((await api('GET', '/console/audit?since=yesterday')).json.error.field).toBe('since');
      const vic = await idp.accessToken('vic');
      expect((await fetch(`${f.url}/api/v1/console/audit`, { headers: { authorization: `Bearer ${vic}` } })).status).toBe(403);
    });

    it('refuses a what-if to a viewer (operators change mappings), and lets them search', async () => {
      const vic = await idp.accessToken('vic');
      const call = (method: string, path: string, body?: unknown) =>
        fetch(`${f.url}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${vic}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const refused = await call('POST', '/plan/what-if', { files: [{ file: 'm.yaml', text: MAPPINGS }] });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/needs the operator role/);
      expect((await call('GET', '/identities?q=hr1')).status).toBe(200);
    });
  });

  describe('in a browser', () => {
    const pageErrors: string[] = [];
    const openPages: Array<{ who: string; page: Page }> = [];
    /** A failure says where each browser was and what it showed, so it can be understood from the log alone. */
    const showingPages = (fn: () => Promise<void>) => async () => {
      try {
        await fn();
      } catch (e) {
        const seen = await Promise.all(
          openPages.map(
            async ({ who, page }) =>
              `${who} at ${page.url()}:\n${(
                await page
                  .locator('body')
                  .innerText({ timeout: 2000 })
                  .catch(() => '(unreadable)')
              ).slice(0, 1500)}`,
          ),
        );
        (e as Error).message += `\n--- what the browsers showed ---\n${seen.join('\n---\n')}`;
        throw e;
      }
    };
    afterAll(() => {
      expect(pageErrors).toEqual([]);
    });
    /** A fresh browser profile, signed in through the console's redirect and the provider's user picker. */
    const signIn = async (name: string, path = '/ui/people'): Promise<Page> => {
      const ctx = await browser!.newContext({ acceptDownloads: true });
      contexts.push(ctx);
      const page = await ctx.newPage();
      // the app's own failures: uncaught errors, and anything the Content-Security-Policy refused
      page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) pageErrors.push(`${name}: ${m.text()}`);
      });
      openPages.push({ who: name, page });
      await page.goto(`${f.url}${path}`);
      // not signed in: the console sends the browser to /auth/login, the provider shows its picker
      await page.getByRole('button', { name: `Sign in as ${name}` }).click();
      await page.getByLabel('signed in as').getByText(name).waitFor();
      return page;
    };

    it.skipIf(!CHROMIUM)(
      'signs in, explains a person with every rule, bundle and validity, reports their lost card, and hides what a viewer may not do',
      showingPages(async () => {
        const card = sim.state.issueCredential(sim.state.findByExternalId('H1')!.id, { type: 'card', number: '4711' });
        const olga = await signIn('Olga Operator');
        await olga.getByLabel('Search people').fill('HR Person 1');
        await olga.getByRole('button', { name: 'Search' }).click();
        await olga.getByRole('list', { name: 'people found' }).getByRole('button', { name: 'HR Person 1', exact: true }).click();
        const ents = olga.getByRole('table', { name: 'entitlements' });
        await ents
          .getByRole('row', { name: /Server whitespace/ })
          .getByText('rule dc-ops · bundle dc-technician')
          .waitFor();
        await ents
          .getByRole('row', { name: /Perimeter/ })
          .getByText(/rule staff/)
          .waitFor();
        expect(await ents.getByRole('row').count()).toBe(3);
        await olga
          .getByRole('list', { name: 'lock-system accounts' })
          .getByText(/linked/)
          .waitFor();
        // the card is lost: blocked at once, and an incident with its NIS2 clocks opens
        await olga.getByRole('button', { name: 'Report card 4711 lost' }).click();
        await olga
          .getByRole('status')
          .filter({ hasText: `Credential ${card.id} is blocked` })
          .waitFor();
        expect(sim.state.findByExternalId('H1')!.credentials.find((c) => c.id === card.id)?.status).toBe('lost');
        await olga.getByRole('link', { name: 'Incidents' }).click();
        await olga
          .getByRole('table', { name: 'incidents' })
          .getByRole('row', { name: new RegExp(`credential ${card.id}`) })
          .getByText(/^early warning: .* \(in 2[34] h \d+ min\)$/)
          .waitFor();
        // what-if: the dc-ops rule dropped in the editor; the plan takes the whitespace from all eight, nothing is applied
        await olga.getByRole('link', { name: 'What-if' }).click();
        const editor = olga.getByLabel('Mapping document mappings.yaml');
        await editor.fill(MAPPINGS.replace(`  - { id: dc-ops, when: 'department eq "DC Operations"', roles: [dc-technician] }\n`, ''));
        await olga.getByRole('button', { name: 'Preview plan' }).click();
        const whatIf = olga.getByRole('region', { name: 'what-if plan' });
        await whatIf.getByLabel('plan summary').getByText('Plan: 0 to add, 0 to change, 8 to destroy.').waitFor();
        await whatIf.getByRole('list', { name: 'operations' }).getByText('revoke hr3 Server whitespace (class 4, dc1)').waitFor();
        expect(holders('AG-WS')).toHaveLength(N);
        await editor.fill(MAPPINGS.replace('protectionClass: 4', 'protectionClass: 9'));
        await olga.getByRole('button', { name: 'Preview plan' }).click();
        await olga.getByRole('list', { name: 'mapping errors' }).getByText('accessGroups[1].protectionClass').waitFor();
        // the matrix: the bundle opens the class-4 whitespace
        await olga.getByRole('link', { name: 'Role matrix' }).click();
        await olga.getByRole('table', { name: 'role-to-door matrix' }).getByLabel('dc-technician opens Server whitespace via dc-technician').waitFor();

        const vic = await signIn('Vic Viewer', '/ui/runs');
        await vic.getByRole('table', { name: 'runs' }).waitFor();
        expect(await vic.getByRole('button', { name: 'Apply full reconciliation' }).isDisabled()).toBe(true);
        expect(await vic.getByRole('navigation', { name: 'main' }).getByRole('link', { name: 'Audit log' }).count()).toBe(0);
        await vic.getByRole('button', { name: 'Sign out' }).click();
        await vic.getByText('You are signed out.').waitFor();
      }),
      90_000,
    );

    it.skipIf(!CHROMIUM)(
      'holds the HR pull Olga starts; Olga cannot approve it, Alice can; the access report changes',
      showingPages(async () => {
        const alice = await signIn('Alice Approver', '/ui/report');
        await alice.getByLabel('Filter text').fill('HR Person 0');
        await alice
          .getByRole('status')
          .filter({ hasText: /^2 of \d+ memberships$/ })
          .waitFor();

        const olga = await signIn('Olga Operator', '/ui/health');
        await f.file(
          'hr.csv',
          hrCsv((i) => i >= LEAVERS),
        );
        await olga.getByRole('button', { name: 'Pull hr now' }).click();
        await olga
          .getByRole('status')
          .filter({ hasText: /Pulled hr:.* 6 updated/ })
          .waitFor();
        // the export is judged as one batch, over the revocation budget: all six wait in one held run
        await olga.getByRole('link', { name: 'Runs' }).click();
        const heldLink = olga.getByRole('region', { name: 'held runs' }).getByRole('link');
        await heldLink.waitFor();
        expect(holders('AG-PERIM')).toHaveLength(N);
        const runText = await heldLink.textContent();
        await heldLink.click();
        const approve = olga.getByRole('button', { name: 'Approve run' });
        await approve.waitFor();
        expect(await approve.isDisabled()).toBe(true);
        await olga
          .getByText(/four-eyes: you started or caused this run/)
          .first()
          .waitFor();
        await olga
          .getByRole('list', { name: 'operations' })
          .getByText(/^revoke hr[0-5] Perimeter/)
          .first()
          .waitFor();

        await alice.getByRole('link', { name: 'Runs' }).click();
        await alice.getByRole('region', { name: 'held runs' }).getByRole('link', { name: runText! }).click();
        await alice.getByRole('button', { name: 'Approve run' }).click();
        await alice
          .getByRole('status')
          .filter({ hasText: /^Approved/ })
          .waitFor();
        await alice.locator('dd .status', { hasText: /^applied$/ }).waitFor();
        await alice.getByText(/Approved by/).waitFor();
        expect(holders('AG-PERIM').sort()).toEqual(['H6', 'H7']);

        await alice.getByRole('link', { name: 'Access report' }).click();
        await alice.getByLabel('Filter text').fill('HR Person 0');
        await alice
          .getByRole('status')
          .filter({ hasText: /^0 of \d+ memberships$/ })
          .waitFor();
        await alice.getByLabel('Filter text').fill('');
        await alice
          .getByRole('status')
          .filter({ hasText: /^4 of 4 memberships$/ })
          .waitFor();
        const [download] = await Promise.all([alice.waitForEvent('download'), alice.getByRole('button', { name: 'Download CSV (all rows)' }).click()]);
        const csv = await readFile(await download.path(), 'utf8');
        expect(csv.trim().split('\n')).toHaveLength(1 + 4);
        expect(csv).toMatch(/hr6/);
        expect(csv).not.toMatch(/hr0/);

        // the audit log names who approved, and its chain verifies
        await alice.getByRole('link', { name: 'Audit log' }).click();
        await alice
          .getByRole('table', { name: 'audit entries' })
          .getByRole('row', { name: /oidc:Alice Approver \(alice\) run\.approved/ })
          .waitFor();
        await alice.getByRole('button', { name: 'Verify audit chain' }).click();
        await alice
          .getByRole('status')
          .filter({ hasText: /^The chain verifies: \d+ entries/ })
          .waitFor();
      }),
      120_000,
    );

    it.skipIf(!CHROMIUM)(
      'Olga requests the cage for hr7, Alice (its owner) approves it and hr7 holds it; Alice records an exception and sees it listed',
      showingPages(async () => {
        const day = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10);
        const olga = await signIn('Olga Operator', '/ui/requests');
        const form = olga.getByRole('form', { name: 'request access' });
        await form.getByLabel('Person').fill('hr7');
        await form.getByLabel('Access group', { exact: true }).fill('cage');
        await form.getByLabel('Until').fill(day(7));
        await form.getByLabel('Justification').fill('Cabling in the customer cage');
        await form.getByRole('button', { name: 'Submit request' }).click();
        await olga
          .getByRole('status')
          .filter({ hasText: /^Request for cage recorded: pending, waiting for alice@example\.com/ })
          .waitFor();
        // the API names the field it refuses
        await form.getByLabel('Until').fill('2020-01-01');
        await form.getByLabel('Justification').fill('A window that ended long ago');
        await form.getByRole('button', { name: 'Submit request' }).click();
        await olga
          .getByRole('alert')
          .filter({ hasText: /\(field: until\)/ })
          .waitFor();

        const alice = await signIn('Alice Approver', '/ui/requests');
        const row = alice.getByRole('table', { name: 'access requests' }).getByRole('row', { name: /Cabling in the customer cage/ });
        await row.getByLabel('Comment').fill('ok for a week');
        await row.getByRole('button', { name: 'Approve' }).click();
        await alice
          .getByRole('status')
          .filter({ hasText: /^Approved/ })
          .waitFor();
        await eventually(() => holders('AG-CAGE').includes('H7'), 'hr7 in the cage');
        await alice.getByRole('link', { name: 'People' }).click();
        await alice.getByLabel('Search people').fill('HR Person 7');
        await alice.getByRole('button', { name: 'Search' }).click();
        await alice.getByRole('list', { name: 'people found' }).getByRole('button', { name: 'HR Person 7', exact: true }).click();
        await alice
          .getByRole('table', { name: 'entitlements' })
          .getByRole('row', { name: /Customer cage/ })
          .waitFor();

        await alice.getByRole('link', { name: 'Exceptions' }).click();
        const add = alice.getByRole('form', { name: 'add an exception' });
        await add.getByLabel('Person').fill('hr6');
        await add.getByLabel('Access group').fill('perimeter');
        await add.getByLabel('Until').fill(day(3));
        await add.getByLabel('Reason').fill('Badge shared with a visitor');
        await add.getByRole('button', { name: 'Add exception' }).click();
        await alice
          .getByRole('status')
          .filter({ hasText: /^Exception recorded: perimeter is denied/ })
          .waitFor();
        await alice
          .getByRole('table', { name: 'exceptions in force' })
          .getByRole('row', { name: /perimeter .*manual.*Badge shared with a visitor/ })
          .waitFor();
      }),
      120_000,
    );
  });
});
