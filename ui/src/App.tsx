import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { devToken, loginUrl, setDevToken, setUnauthorizedHandler, type Me } from './api';
import { ErrorBoundary } from './common';
import { Link, useRoute } from './router';
import { can, SessionContext, type Action } from './session';
import { Audit } from './views/Audit';
import { Exceptions } from './views/Exceptions';
import { HealthView } from './views/Health';
import { Incidents } from './views/Incidents';
import { Violations } from './views/Violations';
import { Matrix } from './views/Matrix';
import { People } from './views/People';
import { Report } from './views/Report';
import { Requests } from './views/Requests';
import { Reviews } from './views/Reviews';
import { Runs } from './views/Runs';
import { WhatIf } from './views/WhatIf';

const VIEWS: Array<{ path: string; label: string; needs: Action; view: () => React.ReactNode }> = [
  { path: '/people', label: 'People', needs: 'read', view: () => <People /> },
  { path: '/matrix', label: 'Role matrix', needs: 'read', view: () => <Matrix /> },
  { path: '/what-if', label: 'What-if', needs: 'read', view: () => <WhatIf /> },
  { path: '/runs', label: 'Runs', needs: 'read', view: () => <Runs /> },
  { path: '/report', label: 'Access report', needs: 'read', view: () => <Report /> },
  { path: '/violations', label: 'Violations', needs: 'read', view: () => <Violations /> },
  { path: '/requests', label: 'Requests', needs: 'read', view: () => <Requests /> },
  { path: '/reviews', label: 'Reviews', needs: 'read', view: () => <Reviews /> },
  { path: '/exceptions', label: 'Exceptions', needs: 'read', view: () => <Exceptions /> },
  { path: '/incidents', label: 'Incidents', needs: 'incidents', view: () => <Incidents /> },
  { path: '/audit', label: 'Audit log', needs: 'audit', view: () => <Audit /> },
  { path: '/health', label: 'Health', needs: 'read', view: () => <HealthView /> },
];

type State = { kind: 'loading' } | { kind: 'in'; me: Me } | { kind: 'out'; message: string; oidc: boolean; problem?: string | null };

const HEADERS = { 'X-Requested-With': 'lockstep', Accept: 'application/json' };

/**
 * Whether this service has OIDC sign-in: /auth/login answers with a redirect to the provider,
 * 404 without one; anything else is a sign-in that is configured but failing (the provider
 * unreachable), with the service's reason.
 */
async function oidcSignIn(): Promise<{ oidc: boolean; problem: string | null }> {
  try {
    const r = await fetch(loginUrl(), { credentials: 'same-origin', redirect: 'manual' });
    if (r.type === 'opaqueredirect' || (r.status >= 300 && r.status < 400)) return { oidc: true, problem: null };
    if (r.status === 404) return { oidc: false, problem: null };
    const body = (await r.json().catch(() => null)) as { error?: { message?: string } } | null;
    return { oidc: true, problem: body?.error?.message ?? `sign-in answered ${r.status}` };
  } catch (e) {
    return { oidc: false, problem: `the service did not answer: ${(e as Error).message}` };
  }
}

/** Who is signed in: GET /auth/me with the session cookie (or this tab's development token). */
async function whoAmI(): Promise<State> {
  const t = devToken();
  const r = await fetch('/auth/me', { credentials: 'same-origin', headers: { ...HEADERS, ...(t ? { Authorization: `Bearer ${t}` } : {}) } });
  if (r.ok) {
    const me = (await r.json()) as Me;
    return { kind: 'in', me: t && me.via === 'token' ? { ...me, via: 'dev-token' } : me };
  }
  if (r.status === 404 && t) {
    // a service without /auth/me (no sign-in support): a working admin token has every role
    const probe = await fetch('/api/v1/runs?limit=1', { headers: { ...HEADERS, Authorization: `Bearer ${t}` } });
    if (probe.ok)
      return { kind: 'in', me: { subject: 'token', name: 'admin token', email: null, roles: ['viewer', 'operator', 'approver', 'auditor'], via: 'dev-token' } };
  }
  if (t) setDevToken(null);
  const { oidc, problem } = await oidcSignIn();
  return { kind: 'out', oidc, problem, message: t ? 'The token was refused.' : 'You are not signed in.' };
}

export function App() {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const route = useRoute();
  const check = useCallback(() => {
    whoAmI().then(
      (s) => {
        // not signed in and OIDC is there: straight to the provider, back to this page after
        if (s.kind === 'out' && s.oidc && !s.problem && !sessionStorage.getItem('lockstep.signedOut')) return location.assign(loginUrl());
        if (s.kind === 'in') sessionStorage.removeItem('lockstep.signedOut');
        setState(s);
      },
      (e: Error) => setState({ kind: 'out', oidc: false, message: `The service did not answer: ${e.message}` }),
    );
  }, []);
  useEffect(() => {
    setUnauthorizedHandler(() => {
      if (devToken()) {
        setDevToken(null);
        setState({ kind: 'out', oidc: false, message: 'The token was refused.' });
        return new Promise<never>(() => undefined);
      }
      location.assign(loginUrl());
      return new Promise<never>(() => undefined);
    });
    check();
  }, [check]);

  if (state.kind === 'loading')
    return (
      <p role="status" className="center">
        Signing in…
      </p>
    );
  if (state.kind === 'out') return <SignedOut message={state.message} oidc={state.oidc} problem={state.problem ?? null} onToken={check} />;

  const me = state.me;
  const signOut = async () => {
    if (me.via === 'oidc') await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: HEADERS }).catch(() => undefined);
    setDevToken(null);
    sessionStorage.setItem('lockstep.signedOut', '1');
    setState({ kind: 'out', oidc: me.via === 'oidc', message: 'You are signed out.' });
  };
  const views = VIEWS.filter((v) => can(me, v.needs));
  const path = route.path === '/' ? '/people' : route.path;
  const active = views.find((v) => path === v.path || path.startsWith(`${v.path}/`));
  return (
    <SessionContext.Provider value={me}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">lockstep</span>
        <nav aria-label="main">
          <ul>
            {views.map((v) => (
              <li key={v.path}>
                <Link to={v.path} aria-current={active?.path === v.path ? 'page' : undefined}>
                  {v.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who" aria-label="signed in as">
          <span>
            {me.name ?? me.email ?? me.subject}
            {me.via === 'dev-token' ? ' (development token)' : ''}
          </span>
          <span className="muted roles">{me.roles.join(', ') || 'no roles'}</span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
        <a className="api-link" href="/api/v1/docs" target="_blank" rel="noreferrer">
          API
        </a>
      </header>
      <main id="main">
        {me.roles.length === 0 ? (
          <p className="warning">You are signed in but hold no lockstep role: ask an administrator for viewer, operator, approver or auditor.</p>
        ) : null}
        <ErrorBoundary resetKey={path}>{active ? active.view() : views.length ? <p>No such page. Choose one above.</p> : null}</ErrorBoundary>
      </main>
    </SessionContext.Provider>
  );
}

function SignedOut({ message, oidc, problem, onToken }: { message: string; oidc: boolean; problem: string | null; onToken: () => void }) {
  const [token, setToken] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!token.trim()) return;
    setDevToken(token.trim());
    sessionStorage.removeItem('lockstep.signedOut');
    onToken();
  };
  return (
    <main className="signin">
      <h1>lockstep console</h1>
      <p role="status">{message}</p>
      {problem ? (
        <p role="alert" className="error">
          Sign-in is not working right now: {problem}
        </p>
      ) : null}
      {oidc ? (
        <p>
          <a className="button primary" href={loginUrl()} onClick={() => sessionStorage.removeItem('lockstep.signedOut')}>
            Sign in
          </a>
        </p>
      ) : (
        <p className="muted">This service has no OIDC sign-in configured (auth.oidc in lockstep.yaml).</p>
      )}
      <details open={!oidc}>
        <summary>Use a token (development)</summary>
        <form onSubmit={submit} className="row">
          <label htmlFor="dev-token">Admin token</label>
          <input id="dev-token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} />
          <button type="submit">Use token</button>
        </form>
        <p className="muted">Kept in this browser tab only (sessionStorage) and sent as a bearer token. `npm start` prints one when ADMIN_TOKEN is not set.</p>
      </details>
    </main>
  );
}
