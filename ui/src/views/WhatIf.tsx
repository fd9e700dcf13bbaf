import { useEffect, useState } from 'react';
import { ApiError, get, post, saveBlob, type Plan } from '../api';
import { ErrorBox, Loading, Page, useLoad } from '../common';
import { PlanView } from '../plan';
import { can, needs, useMe } from '../session';

interface Doc {
  file: string;
  text: string;
}

interface Issue {
  file: string;
  line: number;
  column: number;
  path: string;
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
  const [plan, setPlan] = useState<Plan | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (docs.data && !edited) setEdited(docs.data.files.map((f) => ({ ...f })));
  }, [docs.data, edited]);
  if (docs.error) return <Page title="What-if"><ErrorBox error={docs.error} /></Page>;
  if (!edited) return <Page title="What-if"><Loading what="the mappings" /></Page>;
  const doc = edited[current]!;
  const changed = docs.data ? edited.some((d, i) => d.text !== docs.data!.files[i]?.text) : false;
  const issues = error instanceof ApiError && Array.isArray(error.details) ? (error.details as Issue[]).filter((d) => typeof d?.message === 'string') : [];

  const preview = async () => {
    setBusy(true);
    setError(null);
    setPlan(null);
    try {
      const r = await post<{ plan: Plan }>('plan/what-if', { files: edited });
      setPlan(r.plan);
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
          <button type="button" onClick={() => { setEdited(docs.data!.files.map((f) => ({ ...f }))); setPlan(null); setError(null); }} disabled={!changed}>
            Discard changes
          </button>
        </>
      }
    >
      <p className="muted">
        Change a mapping and preview the plan the service would run with it: the same plan <code>lockstep plan</code> shows (it includes any drift the lock systems have now). Nothing is applied and nothing is saved; to keep a change, download the file and commit it where the service reads its mappings.
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
        <button type="button" className="primary" onClick={() => void preview()} disabled={!allowed || busy} title={allowed ? undefined : `a what-if needs ${needs('whatIf')}`}>
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
                {i.file}:{i.line}:{i.column}: {i.path ? <strong>{i.path}</strong> : null}
                {i.path ? ': ' : ''}
                {i.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {plan ? (
        <section aria-label="what-if plan">
          <h2>The plan this mapping would cause</h2>
          <PlanView plan={plan} />
        </section>
      ) : null}
    </Page>
  );
}
