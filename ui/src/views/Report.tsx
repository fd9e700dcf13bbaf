import { useMemo, useState } from 'react';
import { download, get, saveBlob, type ReportRow } from '../api';
import { ClassBadge, ErrorBox, Loading, Page, useLoad, when } from '../common';

/** Rows drawn at once: a browser table of a whole estate's memberships would not scroll. */
const SHOW = 1000;

const COLUMNS: Array<keyof ReportRow> = [
  'system',
  'userName',
  'displayName',
  'employeeType',
  'department',
  'accessGroup',
  'protectionClass',
  'validFrom',
  'validUntil',
  'why',
  'roles',
  'lastUsed',
  'justified',
];

function csv(rows: ReportRow[]): string {
  const esc = (v: unknown) => {
    const s = Array.isArray(v) ? v.join(';') : v === null || v === undefined ? '' : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [COLUMNS.join(','), ...rows.map((r) => COLUMNS.map((c) => esc(r[c])).join(','))].join('\r\n') + '\r\n';
}

/** The access report: who holds which access group, in which class, why, until when; filtered here, downloadable as CSV. */
export function Report() {
  const r = useLoad(() => get<{ generatedAt: string; rows: ReportRow[] }>('reports/access'), []);
  const [q, setQ] = useState('');
  const [system, setSystem] = useState('');
  const [minClass, setMinClass] = useState('');
  const [justified, setJustified] = useState('');
  const [role, setRole] = useState('');
  const [error, setError] = useState<Error | null>(null);
  const rows = r.data?.rows ?? [];
  const systems = [...new Set(rows.map((x) => x.system))].sort();
  const roles = [...new Set(rows.flatMap((x) => x.roles))].sort();
  const shown = useMemo(() => {
    const t = q.trim().toLowerCase();
    return rows.filter(
      (x) =>
        (!t || [x.userName, x.displayName, x.accessGroup, x.department, x.why].some((v) => v?.toLowerCase().includes(t))) &&
        (!system || x.system === system) &&
        (!minClass || (x.protectionClass ?? -1) >= Number(minClass)) &&
        (!justified || String(x.justified) === justified) &&
        (!role || x.roles.includes(role)),
    );
  }, [rows, q, system, minClass, justified, role]);
  return (
    <Page
      title="Access report"
      actions={
        <>
          <button type="button" onClick={() => void download('reports/access?format=csv', 'access-report.csv').catch((e: Error) => setError(e))}>
            Download CSV (all rows)
          </button>
          <button type="button" onClick={() => saveBlob(new Blob([csv(shown)], { type: 'text/csv' }), 'access-report-filtered.csv')} disabled={!shown.length}>
            Download CSV (filtered)
          </button>
          <button type="button" onClick={r.reload}>
            Refresh
          </button>
        </>
      }
    >
      <p className="muted">
        From the lock systems' actual state, joined with the policy's reasons. Memberships no rule justifies are listed too: those are what auditors ask about.
        {r.data ? ` Generated ${when(r.data.generatedAt)}.` : ''}
      </p>
      <form className="filters" aria-label="report filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Filter text
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="person, group, department, rule" />
        </label>
        <label>
          Lock system
          <select value={system} onChange={(e) => setSystem(e.target.value)}>
            <option value="">all</option>
            {systems.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Protection class at least
          <select value={minClass} onChange={(e) => setMinClass(e.target.value)}>
            <option value="">any</option>
            {[0, 1, 2, 3, 4].map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label>
          Justified
          <select value={justified} onChange={(e) => setJustified(e.target.value)}>
            <option value="">all</option>
            <option value="true">justified by policy</option>
            <option value="false">not justified</option>
          </select>
        </label>
        <label>
          Role bundle
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="">any</option>
            {roles.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </form>
      <ErrorBox error={error ?? r.error} />
      {!r.data && !r.error ? <Loading what="the access report" /> : null}
      {r.data ? (
        <>
          <p role="status">
            {shown.length} of {rows.length} memberships
          </p>
          <div className="scroll">
            <table aria-label="access report">
              <thead>
                <tr>
                  <th scope="col">Person</th>
                  <th scope="col">Access group</th>
                  <th scope="col">Class</th>
                  <th scope="col">System</th>
                  <th scope="col">Valid from</th>
                  <th scope="col">Valid until</th>
                  <th scope="col">Why</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Justified</th>
                </tr>
              </thead>
              <tbody>
                {shown.slice(0, SHOW).map((x) => (
                  <tr key={`${x.system}/${x.accountId}/${x.groupRef}`} className={x.justified ? undefined : 'unjustified'}>
                    <td>
                      {x.displayName}
                      {x.userName ? <span className="muted"> ({x.userName})</span> : null}
                    </td>
                    <td>{x.accessGroup}</td>
                    <td>
                      <ClassBadge c={x.protectionClass} />
                    </td>
                    <td>{x.system}</td>
                    <td>{when(x.validFrom)}</td>
                    <td>{when(x.validUntil)}</td>
                    <td>{x.why || '–'}</td>
                    <td>{when(x.lastUsed) || 'never'}</td>
                    <td>{x.justified ? 'yes' : 'no'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {shown.length > SHOW ? (
            <p className="muted">
              The first {SHOW} of {shown.length} rows are shown: filter to narrow them, or download the CSV for all.
            </p>
          ) : null}
        </>
      ) : null}
    </Page>
  );
}
