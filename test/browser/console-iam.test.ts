import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { appendAudit, findIdentityByUserName, openIncident } from '../../src/store/index.js';
import { ServiceFixture, eventually } from '../helpers/serve.js';
import { startOidcProvider, type RunningOidcProvider } from '../helpers/oidc-provider.js';

/**
 * The console as IAM teams and security officers use it (issue 26), against a real `serve`
 * (PostgreSQL, Redis, a simulator) with OIDC sign-in: people by name in lists and the audit log,
 * search by name with an empty result that says why, pages of the audit log and runs, the
 * incident lifecycle (acknowledge, record the early warning, close) with its overdue report in
 * Health, the mapping lint in the What-if, plans grouped per person, four-eyes on one's own
 * request, readable primary buttons. The API first, then one Chromium.
 */

const ROOT = join(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? null;
const ADMIN_TOKEN = 'admin-token-console-iam-0123456789abcdef';

const HR = `employeeId,userName,displayName,employeeType,department,active
E1001,anna.schmidt,Anna Schmidt,Employee,DC Operations,true
E1002,ben.keller,Ben Keller,Employee,DC Operations,true
E1003,cara.lind,Cara Lind,Employee,Facilities,true
`;

const MAPPINGS = `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: whitespace, system: dc1, ref: AG-WS, name: Server whitespace, protectionClass: 4 }
  - { id: cage, system: dc1, ref: AG-CAGE, name: Customer cage, protectionClass: 1, owner: alice@example.com }
roles:
  dc-technician: { grant: [whitespace] }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: dc-ops, when: 'department eq "DC Operations"', roles: [dc-technician] }
`;

describe(`the console for IAM teams (issue 26)${CHROMIUM ? '' : ' (browser tests skipped: no chromium)'}`, () => {
  const f = new ServiceFixture({ admin: ADMIN_TOKEN });
  let sim: RunningSimulator;
  let idp: RunningOidcProvider;
  let browser: Browser | null = null;
  const contexts: BrowserContext[] = [];
  const api = (method: string, path: string, body?: unknown) => f.call('api/v1', method, path, body);
  let incidentId = '';

  beforeAll(async () => {
    await f.open();
    execFileSync(process.execPath, [join(ROOT, 'ui/build.mjs'), f.path('ui')], { stdio: 'pipe' });
    process.env.LOCKSTEP_UI_DIR = f.path('ui');
    idp = await startOidcProvider({
      users: [
        { sub: 'olga', name: 'Olga Operator', email: 'olga@example.com', roles: ['Lockstep.Operator', 'Lockstep.Approver'] },
        { sub: 'alice', name: 'Alice Approver', email: 'alice@example.com', roles: ['Lockstep.Approver', 'Lockstep.Viewer', 'Lockstep.Auditor'] },
      ],
    });
    sim = await startSimulator({
      groups: [
        { id: 'AG-PERIM', name: 'Perimeter', doors: [] },
        { id: 'AG-WS', name: 'Server whitespace', doors: [] },
        { id: 'AG-CAGE', name: 'Customer cage', doors: [] },
      ],
    });
    await f.file('hr.csv', HR);
    await f.file('mappings.yaml', MAPPINGS);
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, format: csv, full: true, columns: { employeeId: externalId } }
auth:
  session: { secret: "a-session-secret-for-the-console-iam-test-0123456789" }
  oidc: { issuer: "${idp.issuer}", clientId: "${idp.clientId}", clientSecret: "${idp.clientSecret}" }
queue: { prefix: ${f.prefix} }
`);
    await eventually(() => sim.state.findByExternalId('E1001')?.memberships.some((m) => m.group === 'AG-WS'), 'anna’s doors');
    // a lost card reported 30 hours ago: its early warning (24 h) is overdue
    const anna = (await findIdentityByUserName(f.store!.db, 'anna.schmidt'))!;
    incidentId = (
      await openIncident(f.store!.db, {
        kind: 'lost-credential',
        system: 'dc1',
        credentialId: 'CARD-4711',
        identityId: anna.id,
        at: new Date(Date.now() - 30 * 3_600_000).toISOString(),
      })
    ).id;
    // a long log: more than a page of the console's audit view
    await appendAudit(
      f.store!.db,
      Array.from({ length: 120 }, (_, i) => ({ actor: 'test', action: 'test.filler', subject: 'filler', data: { i } })),
    );
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

  describe('its API', () => {
    it('searches the audit log by name, userName or employee id, names each entry’s person, pages it, and says why a search found nothing', async () => {
      const byName = await api('GET', '/console/audit?q=Anna%20Schmidt');
      expect(byName.status).toBe(200);
      expect(byName.json.entries.length).toBeGreaterThan(0);
      expect(byName.json.entries.every((e: { person: { userName: string } | null }) => e.person?.userName === 'anna.schmidt')).toBe(true);
      expect((await api('GET', '/console/audit?q=E1002')).json.entries[0].person).toMatchObject({ userName: 'ben.keller', displayName: 'Ben Keller' });
      const nobody = await api('GET', '/console/audit?q=ana.schmidt');
      expect(nobody.json).toMatchObject({
        entries: [],
        why: 'Nobody\'s name, user name or employee id contains "ana.schmidt" (did you mean "anna.schmidt"?).',
      });
      const first = await api('GET', '/console/audit?limit=3');
      expect(first.json).toMatchObject({ more: true });
      const second = await api('GET', `/console/audit?limit=3&before=${first.json.next}`);
      expect(second.json.entries[0].seq).toBe(first.json.entries[2].seq - 1);
      expect((await api('GET', '/console/audit?before=x')).json.error.field).toBe('before');
    });

    it('pages the runs list and names people in requests and exceptions', async () => {
      const page = await api('GET', '/runs?limit=1');
      expect(page.json.runs).toHaveLength(1);
      const all = (await api('GET', '/runs?limit=200')).json.runs;
      if (all.length > 1) expect((await api('GET', `/runs?limit=1&before=${page.json.next}`)).json.runs[0].id).toBe(all[1].id);
      expect((await api('GET', '/runs?before=nope')).status).toBe(400);
      const x = await api('POST', '/exceptions', {
        identity: 'ben.keller',
        accessGroup: 'whitespace',
        until: new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10),
        reason: 'badge shared',
      });
      expect(x.status).toBe(201);
      expect((await api('GET', '/exceptions')).json.exceptions[0].person).toEqual({ userName: 'ben.keller', displayName: 'Ben Keller', externalId: 'E1002' });
    });

    it('answers one incident by a prefix of its id, with the person and the overdue step, names a bad step, and counts the overdue report in /metrics', async () => {
      const alice = await idp.accessToken('alice');
      expect((await api('GET', `/incidents/${incidentId.slice(0, 8)}`)).json).toMatchObject({
        id: incidentId,
        person: { userName: 'anna.schmidt' },
        nis2: { overdue: ['early-warning'] },
      });
      // Alice may read and approve, but the lifecycle is operators' and approvers': she is an approver
      const r = await fetch(`${f.url}/api/v1/incidents/${incidentId}/report`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
        body: JSON.stringify({ step: 'interim', reference: 'x' }),
      });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { field: string } }).error.field).toBe('step');
      const metrics = await (await fetch(`${f.url}/metrics`)).text();
      expect(metrics).toMatch(/lockstep_incident_reports_overdue\{step="early-warning"\} 1/);
    });
  });

  describe('in a browser', () => {
    const pageErrors: string[] = [];
    const openPages: Array<{ who: string; page: Page }> = [];
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
    const signIn = async (name: string, path: string): Promise<Page> => {
      const ctx = await browser!.newContext();
      contexts.push(ctx);
      const page = await ctx.newPage();
      page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
      openPages.push({ who: name, page });
      await page.goto(`${f.url}${path}`);
      await page.getByRole('button', { name: `Sign in as ${name}` }).click();
      await page.getByLabel('signed in as').getByText(name).waitFor();
      return page;
    };

    it.skipIf(!CHROMIUM)(
      'takes the lost card’s incident from overdue to closed, by name, with Health saying what is overdue',
      showingPages(async () => {
        const olga = await signIn('Olga Operator', '/ui/health');
        await olga
          .getByLabel('overdue incident reports')
          .getByText(/1 early warning not recorded as sent/)
          .waitFor();
        await olga.getByLabel('overdue incident reports').getByRole('link', { name: 'Incidents' }).click();
        const row = olga.getByRole('table', { name: 'incidents' }).getByRole('row', { name: /CARD-4711/ });
        await row.getByRole('link', { name: 'Anna Schmidt (anna.schmidt)' }).waitFor();
        await row.locator('.clock.late', { hasText: /^early warning: .* overdue\)$/ }).waitFor();
        // the opened date reads as a date, with the instant on hover
        expect(await row.locator('time').first().getAttribute('title')).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        await row.getByRole('button', { name: 'Acknowledge' }).click();
        await olga
          .getByRole('status')
          .filter({ hasText: `Incident ${incidentId.slice(0, 8)} acknowledged.` })
          .waitFor();
        await row.getByText('acknowledged by oidc:Olga Operator (olga)').waitFor();
        const report = row.getByRole('form', { name: `record a report of incident ${incidentId.slice(0, 8)}` });
        expect(await report.getByLabel('Report sent').inputValue()).toBe('early-warning');
        await report.getByLabel('Reference').fill('CSIRT-2026-0042');
        await report.getByRole('button', { name: 'Record report' }).click();
        await olga
          .getByRole('status')
          .filter({ hasText: /early warning of incident .* is recorded as sent: its clock stopped/ })
          .waitFor();
        await row.locator('.clock.sent', { hasText: /^early warning: sent .* by oidc:Olga Operator \(olga\), ref\. CSIRT-2026-0042 \(late\)$/ }).waitFor();
        await olga.getByRole('link', { name: 'Health' }).click();
        await olga.getByLabel('overdue incident reports').getByText('every NIS2 report due is recorded').waitFor();
        await olga.getByRole('link', { name: 'Incidents' }).click();
        const close = olga.getByRole('form', { name: `close incident ${incidentId.slice(0, 8)}` });
        await close.getByLabel('Reason').fill('card found; filed as `CSIRT-2026-0042`');
        await close.getByRole('button', { name: 'Close incident' }).click();
        await olga.getByRole('status').filter({ hasText: 'closed.' }).waitFor();
        await olga.getByText('No open incidents.').waitFor();
        await olga.getByLabel('Show').selectOption('');
        const closed = olga.getByRole('table', { name: 'incidents' }).getByRole('row', { name: /CARD-4711/ });
        // Markdown backticks read as code
        expect(await closed.locator('code').textContent()).toBe('CSIRT-2026-0042');
        await closed.getByText('early warning: sent', { exact: false }).waitFor();
        await closed.getByText('notification:', { exact: false }).filter({ hasText: 'not recorded' }).waitFor();
      }),
      120_000,
    );

    it.skipIf(!CHROMIUM)(
      'finds people by name in the audit log (and says why nobody matched), pages it, and lists requests and exceptions by name with four-eyes on one’s own request',
      showingPages(async () => {
        const alice = await signIn('Alice Approver', '/ui/audit');
        const entries = alice.getByRole('table', { name: 'audit entries' });
        await entries.waitFor();
        expect(await entries.getByRole('row').count()).toBe(101);
        await alice.getByRole('button', { name: 'Older' }).click();
        await alice.getByText(/^Page 2: entries/).waitFor();
        await alice.getByRole('button', { name: 'Newer' }).click();
        await alice.getByText(/^Page 1: entries/).waitFor();
        await alice.getByLabel(/^Person or subject/).fill('ana.schmidt');
        await alice.getByRole('button', { name: 'Filter' }).click();
        await alice
          .getByRole('status')
          .filter({ hasText: 'Nobody\'s name, user name or employee id contains "ana.schmidt" (did you mean "anna.schmidt"?).' })
          .waitFor();
        await alice.getByLabel(/^Person or subject/).fill('anna');
        await alice.getByRole('button', { name: 'Filter' }).click();
        await entries
          .getByRole('row', { name: /incident\.closed/ })
          .getByRole('link', { name: 'Anna Schmidt (anna.schmidt)' })
          .waitFor();
        await entries
          .getByRole('row', { name: /incident\.reported/ })
          .getByText(/early-warning sent .*, reference CSIRT-2026-0042/)
          .waitFor();

        await alice.getByRole('link', { name: 'Exceptions' }).click();
        await alice
          .getByRole('table', { name: 'exceptions in force' })
          .getByRole('row', { name: /Ben Keller \(ben\.keller\).*whitespace/ })
          .waitFor();
        await alice.getByLabel('Person').last().fill('E1003');
        await alice
          .getByRole('status')
          .filter({ hasText: /No exception in force is about a person whose name, user name or employee id contains “E1003”/ })
          .waitFor();

        // Alice may not ask for someone else's access: the 403 reads as a refusal, with the API's reason
        const ask = async (page: Page) => {
          const form = page.getByRole('form', { name: 'request access' });
          await form.getByLabel('Person').fill('cara.lind');
          await form.getByLabel('Access group', { exact: true }).fill('cage');
          await form.getByLabel('Until').fill(new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10));
          await form.getByLabel('Justification').fill('Cabling the cage');
          await form.getByRole('button', { name: 'Submit request' }).click();
        };
        await alice.getByRole('link', { name: 'Requests' }).click();
        await ask(alice);
        await alice
          .getByRole('alert')
          .filter({ hasText: /^Not allowed: oidc:Alice Approver \(alice\) may not request access for cara\.lind/ })
          .waitFor();
        // Olga (an operator and approver) asks for Cara: she may not approve her own request
        const olga = await signIn('Olga Operator', '/ui/requests');
        await ask(olga);
        const row = olga.getByRole('table', { name: 'access requests' }).getByRole('row', { name: /Cabling the cage/ });
        await row.getByRole('link', { name: 'Cara Lind (cara.lind)' }).waitFor();
        const approve = row.getByRole('button', { name: 'Approve' });
        expect(await approve.isDisabled()).toBe(true);
        expect(await approve.getAttribute('title')).toMatch(/^four-eyes: you asked for this access/);
      }),
      120_000,
    );

    it.skipIf(!CHROMIUM)(
      'lints a mapping in the What-if, groups a run’s plan per person, fills the Progress column and keeps primary buttons readable on hover',
      showingPages(async () => {
        const olga = await signIn('Olga Operator', '/ui/what-if');
        const editor = olga.getByLabel('Mapping document mappings.yaml');
        await editor.fill(MAPPINGS.replace('department eq "DC Operations"', 'departmnt eq "DC Operations"'));
        await olga.getByRole('button', { name: 'Preview plan' }).click();
        const errors = olga.getByRole('list', { name: 'mapping errors' });
        await errors.getByText('rule "dc-ops": when').waitFor();
        await errors.getByText(/departmnt is not an identity attribute .* \(did you mean "department"\?\)/).waitFor();
        await editor.fill(MAPPINGS.replace('department eq "DC Operations"', 'department eq "Nobody here"'));
        await olga.getByRole('button', { name: 'Preview plan' }).click();
        const warnings = olga.getByRole('list', { name: 'mapping warnings' });
        await warnings.getByText('rule "dc-ops" matches nobody among the 3 people in the store (when: department eq "Nobody here")').waitFor();
        await warnings.getByText(/role bundle "dc-technician" reaches nobody/).waitFor();
        // a plan per person, with its counts: anna loses the whitespace (ben's is denied by his exception already)
        const ops = olga.getByRole('region', { name: 'what-if plan' }).getByRole('list', { name: 'operations' });
        await ops.locator('summary', { hasText: 'anna.schmidt' }).getByText('-1').waitFor();
        expect(await ops.locator('li.plan-group').count()).toBe(1);

        // primary buttons: dark on hover, never white on light grey
        const preview = olga.getByRole('button', { name: 'Preview plan' });
        await preview.hover();
        // (in the page: the test's own TypeScript has no DOM types)
        expect(
          await preview.evaluate(
            (b) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(b).backgroundColor,
          ),
        ).toBe('rgb(30, 58, 138)');

        await olga.getByRole('link', { name: 'Runs' }).click();
        const runs = olga.getByRole('table', { name: 'runs' });
        await runs.waitFor();
        const cells = await runs.locator('tbody tr td:nth-child(6)').allInnerTexts();
        expect(cells.length).toBeGreaterThan(0);
        expect(cells.every((c) => c.trim() !== '')).toBe(true);
      }),
      120_000,
    );
  });
});
