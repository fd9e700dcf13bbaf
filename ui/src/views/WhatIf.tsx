import { useEffect, useState } from 'react';
import { ApiError, get, post, saveBlob, type Operation, type Plan } from '../api';
import { ErrorBox, Loading, Page, useLoad } from '../common';
import { PlanView, summarize } from '../plan';
import { can, needs, useMe } from '../session';
import { WhatIfTests, type WhatIfTestsResult } from './WhatIfTests';

interface Doc {
  file: string;
  text: string;
}

interface WhatIfResult {
  plan: Plan;
  causedByEdit: string[];
  /** The mapping tests run against the edited mappings (issue 27). */
  tests?: WhatIfTestsResult;
  avoidedByEdit: Operation[];
  withoutEdit: { summary: Plan['summary']; operations: number };
  /** The mapping lint's warnings: rules and role bundles that match nobody in the current population. */
  warnings?: string[];
}

interface Issue {
  file: string;
  line: number;
  column: number;
  path: string;
  /** What the path names: `rule "dc-ops": when` (rules and access groups by id). */
  label?: string;
  message: string;
}

/**
 * Edit a mapping document and see the plan it would cause, before anything is saved or
 * applied. Saving is a download of the edited file: mappings live in version control, and the
 * service reads them at start.
 */
export function WhatIf() {
  const me = useMe();
  const allowed = can(me, 'whatIf');
  const docs = useLoad(() => get<{ files: Doc[] }>('mappings'), []);
  const [edited, setEdited] = useState<Doc[] | null>(null);
  const [current, setCurrent] = useState(0);
  const [result, setResult] = useState<WhatIfResult | null>(null);
  const [onlyEdit, setOnlyEdit] = useState(true);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (docs.data && !edited) setEdited(docs.data.files.map((f) => ({ ...f })));
  }, [docs.data, edited]);
  if (docs.error)
    return (
      <Page title="What-if">
        <ErrorBox error={docs.error} />
      </Page>
    );
  if (!edited)
    return (
      <Page title="What-if">
        <Loading what="the mappings" />
      </Page>
    );
  const doc = edited[current];
  const changed = docs.data ? edited.some((d, i) => d.text !== docs.data!.files[i]?.text) : false;
  const issues = error instanceof ApiError && Array.isArray(error.details) ? (error.details as Issue[]).filter((d) => typeof d?.message === 'string') : [];

  const preview = async () => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      setResult(await post<WhatIfResult>('plan/what-if', { files: edited }));
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Page
      title="What-if"
      actions={
        <>
          <button type="button" onClick={() => saveBlob(new Blob([doc.text], { type: 'application/yaml' }), doc.file)}>
            Download {doc.file}
          </button>
          <button
            type="button"
            onClick={() => {
              setEdited(docs.data!.files.map((f) => ({ ...f })));
              setResult(null);
              setError(null);
            }}
            disabled={!changed}
          >
            Discard changes
          </button>
        </>
      }
    >
      <p className="muted">
        Change a mapping and preview the plan the service would run with it: the plan <code>lockstep plan</code> would show, shown by default only where it
        differs from the plan without your edit. Nothing is applied and nothing is saved; to keep a change, download the file and commit it where the service
        reads its mappings.
      </p>
      {edited.length > 1 ? (
        <div className="row">
          <label htmlFor="whatif-file">Mapping file</label>
          <select id="whatif-file" value={current} onChange={(e) => setCurrent(Number(e.target.value))}>
            {edited.map((d, i) => (
              <option key={d.file} value={i}>
                {d.file}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <label htmlFor="whatif-text" className="block">
        Mapping document {doc.file}
      </label>
      <textarea
        id="whatif-text"
        className="editor"
        spellCheck={false}
        value={doc.text}
        onChange={(e) => {
          const v = e.target.value;
          setEdited((prev) => prev!.map((d, i) => (i === current ? { ...d, text: v } : d)));
        }}
        rows={24}
      />
      <div className="row">
        <button
          type="button"
          className="primary"
          onClick={() => void preview()}
          disabled={!allowed || busy}
          title={allowed ? undefined : `a what-if needs ${needs('whatIf')}`}
        >
          {busy ? 'Planning…' : 'Preview plan'}
        </button>
        {!allowed ? <span className="muted">A what-if needs {needs('whatIf')}.</span> : null}
        {changed ? <span className="muted">Edited, not saved.</span> : null}
      </div>
      {error && !issues.length ? <ErrorBox error={error} /> : null}
      {issues.length ? (
        <div role="alert" className="error">
          The mapping is invalid:
          <ul aria-label="mapping errors">
            {issues.map((i, k) => (
              <li key={k}>
                {i.file}:{i.line}:{i.column}: {i.label ? <strong>{i.label}</strong> : i.path ? <strong>{i.path}</strong> : null}
                {i.label || i.path ? ': ' : ''}
                {i.message}
                {i.label && i.path ? <span className="muted"> ({i.path})</span> : null}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {result ? <WhatIfPlan result={result} onlyEdit={onlyEdit} setOnlyEdit={setOnlyEdit} /> : null}
    </Page>
  );
}

function WhatIfPlan({ result, onlyEdit, setOnlyEdit }: { result: WhatIfResult; onlyEdit: boolean; setOnlyEdit: (v: boolean) => void }) {
  const caused = new Set(result.causedByEdit);
  const anyway = result.plan.operations.length - caused.size;
  const ops = onlyEdit ? result.plan.operations.filter((o) => caused.has(o.key)) : result.plan.operations;
  const shown: Plan = { ...result.plan, operations: ops, summary: onlyEdit ? summarize(ops) : result.plan.summary };
  return (
    <section aria-label="what-if plan">
      <h2>The plan with this mapping</h2>
      <p>
        {caused.size} operation{caused.size === 1 ? '' : 's'} come{caused.size === 1 ? 's' : ''} from the edit
        {anyway ? `; ${anyway} ${anyway === 1 ? 'is' : 'are'} planned without it too (drift in the lock systems, validity that ends)` : ''}
        {result.avoidedByEdit.length
          ? `; the edit makes ${result.avoidedByEdit.length} planned operation${result.avoidedByEdit.length === 1 ? '' : 's'} unnecessary`
          : ''}
        .
      </p>
      <label className="row">
        <input type="checkbox" checked={onlyEdit} onChange={(e) => setOnlyEdit(e.target.checked)} /> Only what the edit changes
      </label>
      {result.warnings?.length ? (
        <div className="warning" role="note">
          Rules that reach nobody:
          <ul aria-label="mapping warnings" className="lint-warnings">
            {result.warnings.map((w, k) => (
              <li key={k}>{w}</li>
            ))}
          </ul>
        </div>
      ) : null}
      <WhatIfTests tests={result.tests} />
      <PlanView plan={shown} />
      {result.avoidedByEdit.length ? (
        <>
          <h3>No longer needed with the edit</h3>
          <PlanView plan={{ ...result.plan, operations: result.avoidedByEdit, summary: summarize(result.avoidedByEdit), warnings: [] }} />
        </>
      ) : null}
    </section>
  );
}
