import { get, type MatrixRow } from '../api';
import { ClassBadge, ErrorBox, Loading, Page, useLoad } from '../common';

/** The role-to-door matrix: which role bundle opens which access group, columns grouped by protection class. */
export function Matrix() {
  const r = useLoad(() => get<{ matrix: MatrixRow[]; holders: Array<{ role: string }> }>('reports/access?groupBy=role'), []);
  if (r.error)
    return (
      <Page title="Role-to-door matrix">
        <ErrorBox error={r.error} />
      </Page>
    );
  if (!r.data)
    return (
      <Page title="Role-to-door matrix">
        <Loading what="the matrix" />
      </Page>
    );
  const rows = r.data.matrix;
  const roles = [...new Set(rows.map((x) => x.role))].sort();
  const groups = new Map<string, { id: string; name: string; system: string; protectionClass: number }>();
  for (const x of rows) groups.set(x.accessGroupId, { id: x.accessGroupId, name: x.accessGroup, system: x.system, protectionClass: x.protectionClass });
  // highest class first: the doors auditors ask about
  const cols = [...groups.values()].sort((a, b) => b.protectionClass - a.protectionClass || a.name.localeCompare(b.name));
  const classes = [...new Set(cols.map((c) => c.protectionClass))];
  const cell = new Map(rows.map((x) => [`${x.role}\u0000${x.accessGroupId}`, x.via]));
  const holders = new Map<string, number>();
  for (const h of r.data.holders) holders.set(h.role, (holders.get(h.role) ?? 0) + 1);
  return (
    <Page title="Role-to-door matrix">
      <p className="muted">
        Each role bundle of the mappings and the access groups it opens, directly or through included bundles, and each rule that grants access groups itself
        (not through a bundle), by EN 50600 protection class (highest first).
      </p>
      {rows.length === 0 ? <p>The mappings define no role bundles.</p> : null}
      {rows.length ? (
        <div className="scroll">
          <table className="matrix" aria-label="role-to-door matrix">
            <thead>
              <tr>
                <th scope="col" rowSpan={2}>
                  Role bundle
                </th>
                {classes.map((c) => (
                  <th scope="colgroup" key={c} colSpan={cols.filter((x) => x.protectionClass === c).length}>
                    <ClassBadge c={c} />
                  </th>
                ))}
              </tr>
              <tr>
                {cols.map((c) => (
                  <th scope="col" key={c.id} title={`${c.id} in ${c.system}`}>
                    {c.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {roles.map((role) => (
                <tr key={role}>
                  <th scope="row">
                    {role}{' '}
                    {role.startsWith('rule ') ? (
                      <span className="muted">(grants directly)</span>
                    ) : (
                      <span className="muted">({holders.get(role) ?? 0} memberships held)</span>
                    )}
                  </th>
                  {cols.map((c) => {
                    const via = cell.get(`${role}\u0000${c.id}`);
                    return (
                      <td
                        key={c.id}
                        className={via ? 'yes' : 'no'}
                        title={via ? `via ${via}` : undefined}
                        aria-label={via ? `${role} opens ${c.name} via ${via}` : `${role} does not open ${c.name}`}
                      >
                        {via ? '●' : ''}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}
