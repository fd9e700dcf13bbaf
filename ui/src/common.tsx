import { Component, useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from './api';

export interface Loaded<T> {
  data: T | null;
  error: Error | null;
  loading: boolean;
  reload: () => void;
}

/** Loads on mount and whenever `deps` change; `everyMs` polls (paused while the tab is hidden). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], opts: { everyMs?: number } = {}): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const mine = ++seq.current;
    setLoading(true);
    load().then(
      (d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (mine !== seq.current) return;
        setError(e instanceof Error ? e : new Error(String(e)));
        setLoading(false);
      },
    );
    // (the effect depends on deps and tick alone, as listed)
  }, [...deps, tick]);
  useEffect(() => {
    if (!opts.everyMs) return;
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, opts.everyMs);
    return () => clearInterval(t);
  }, [opts.everyMs, reload]);
  return { data, error, loading, reload };
}

export function ErrorBox({ error }: { error: Error | null }) {
  if (!error) return null;
  const field = error instanceof ApiError && error.field ? ` (field: ${error.field})` : '';
  // a refusal reads as one: what was refused and why, not a status code
  const refused = error instanceof ApiError && error.status === 403 ? 'Not allowed: ' : '';
  return (
    <div role="alert" className="error">
      {refused}
      <RichText text={error.message} />
      {field}
    </div>
  );
}

/** An instant as people read it (`2026-12-02 17:40`, the browser's zone), the ISO instant on hover. */
export function When({ iso }: { iso: string | null | undefined }) {
  if (!iso) return null;
  return (
    <time dateTime={iso} title={iso}>
      {when(iso)}
    </time>
  );
}

const RICH = /`([^`\n]+)`|(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))/g;

/**
 * Text from the service as people read it: Markdown backticks as code, ISO instants as dates
 * (the instant on hover). Nothing else is interpreted: the text stays text.
 */
export function RichText({ text }: { text: string }) {
  const out: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(RICH)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(<code key={m.index}>{m[1]}</code>);
    else out.push(<When key={m.index} iso={m[2]} />);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return <>{out}</>;
}

/** A person as lists name them: display name and userName (the id on hover), or the short id when the service does not know them. */
export function personText(p: { userName: string; displayName: string | null } | null | undefined, id: string | null): string {
  if (p) return p.displayName && p.displayName !== p.userName ? `${p.displayName} (${p.userName})` : p.userName;
  return id ? id.slice(0, 8) : '–';
}

export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  return (
    <section aria-labelledby="page-title">
      <header className="page-head">
        <h1 id="page-title">{title}</h1>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

/** `2026-12-02 17:40` in the browser's time zone; empty for null. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** `3 h 12 min`, `-2 d 4 h` (overdue): the time from now to `iso`. */
export function until(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  const a = Math.abs(ms);
  const d = Math.floor(a / 86_400_000);
  const h = Math.floor((a % 86_400_000) / 3_600_000);
  const m = Math.floor((a % 3_600_000) / 60_000);
  const text = d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min`;
  return ms < 0 ? `${text} overdue` : `in ${text}`;
}

export function ClassBadge({ c }: { c: number | null }) {
  if (c === null || c === undefined) return <span className="badge">–</span>;
  return (
    <span className={`badge class-${c}`} title={`EN 50600 protection class ${c}`}>
      class {c}
    </span>
  );
}

export function Status({ s }: { s: string }) {
  return <span className={`status status-${s}`}>{s}</span>;
}

/** A button for an action the signed-in person may lack: disabled, with the reason as its description. */
export function ActionButton({
  allowed,
  why,
  children,
  ...rest
}: { allowed: boolean; why: string; children: ReactNode } & React.ButtonHTMLAttributes<HTMLButtonElement>) {
  return (
    <button {...rest} disabled={!allowed || rest.disabled} title={allowed ? rest.title : why}>
      {children}
    </button>
  );
}

/** A view that throws while rendering shows what broke instead of a blank page; the others keep working. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: Error | null; key: string }> {
  state = { error: null as Error | null, key: this.props.resetKey };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  static getDerivedStateFromProps(props: { resetKey: string }, state: { error: Error | null; key: string }) {
    // another page: try again
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div role="alert" className="error">
        This page failed: {this.state.error.message}.{' '}
        <button type="button" onClick={() => location.reload()}>
          Reload
        </button>
      </div>
    );
  }
}

/** Whether a list item's person matches a filter text: name, userName, employee id or id (case-insensitive). */
export function matchesPerson(p: { userName: string; displayName: string | null; externalId?: string } | null | undefined, id: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (!t) return true;
  return [p?.userName, p?.displayName, p?.externalId, id].some((v) => !!v && v.toLowerCase().includes(t));
}

/** The filter field lists of people share. */
export function PersonFilter({ id, value, onChange }: { id: string; value: string; onChange: (v: string) => void }) {
  return (
    <>
      <label htmlFor={id}>Person</label>
      <input id={id} type="search" value={value} onChange={(e) => onChange(e.target.value)} placeholder="name, user name or employee id" />
    </>
  );
}
