import { useState } from 'react';
import { download, get, type ViolationReport } from '../api';
import { ErrorBox, Loading, Page, useLoad, when } from '../common';

/**
 * Held access that breaks an invariant of the mappings (issue 27): reported, never revoked on its
 * own. An operator decides with an access exception, or a review with scope { violations: true }.
 */
export function Violations() {
  const r = useLoad(() => get<ViolationReport>('reports/violations'), []);
  const [error, setError] = useState<Error | null>(null);
  return (
    <Page
      title="Violations"
      actions={
        <>
          <button type="button" onClick={() => void download('reports/violations?format=csv', 'violations.csv').catch((e: Error) => setError(e))}>
            Download CSV
          </button>
          <button type="button" onClick={r.reload}>
            Refresh
          </button>
        </>
      }
    >
      <p className="muted">
        Access the lock systems hold that breaks an invariant of the mappings (segregation of duties, class requirements). A new grant that would break one is
        refused; access already held is reported here and never revoked on its own: decide it with an access exception or an access review.
        {r.data ? ` Generated ${when(r.data.generatedAt)}.` : ''}
      </p>
      <ErrorBox error={error ?? r.error} />
      {r.loading && !r.data ? <Loading what="violations" /> : null}
      {r.data && r.data.invariants.length === 0 ? <p>The mappings declare no invariants.</p> : null}
      {r.data && r.data.invariants.length > 0 ? (
        <>
          <table aria-label="invariants">
            <thead>
              <tr>
                <th>Invariant</th>
                <th>Says</th>
                <th>Violations</th>
              </tr>
            </thead>
            <tbody>
              {r.data.invariants.map((x) => (
                <tr key={x.id} className={x.violations ? 'bad' : undefined}>
                  <td title={x.description ?? undefined}>{x.id}</td>
                  <td>{x.says}</td>
                  <td>{x.violations}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {r.data.violations.length === 0 ? (
            <p>No held access breaks an invariant.</p>
          ) : (
            <table aria-label="violations">
              <thead>
                <tr>
                  <th>Invariant</th>
                  <th>Person</th>
                  <th>Access groups</th>
                  <th>What breaks it</th>
                </tr>
              </thead>
              <tbody>
                {r.data.violations.map((v, k) => (
                  <tr key={`${v.invariant}-${v.identityId ?? 'group'}-${k}`}>
                    <td>{v.invariant}</td>
                    <td>{v.userName ?? <span className="muted">(the group)</span>}</td>
                    <td>{v.accessGroupIds.join(', ')}</td>
                    <td>{v.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      ) : null}
    </Page>
  );
}
