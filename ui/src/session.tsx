import { createContext, useContext } from 'react';
import type { Me, Role } from './api';

/**
 * What each action needs, as the admin API's route table (src/api/roles.ts) says; the server
 * enforces it, the console only hides or disables what would be refused.
 */
const NEEDS = {
  read: ['viewer', 'operator', 'approver', 'auditor'],
  startRun: ['operator'],
  approve: ['approver'],
  whatIf: ['operator'],
  incidents: ['operator', 'approver', 'auditor'],
  audit: ['auditor'],
  syncSource: ['operator'],
  reportLost: ['operator'],
  handleIncident: ['operator', 'approver'],
  addException: ['operator', 'approver'],
  removeException: ['approver'],
  startReview: ['operator'],
} satisfies Record<string, Role[]>;
export type Action = keyof typeof NEEDS;

export function can(me: Me | null, action: Action): boolean {
  return !!me && me.roles.some((r) => (NEEDS[action] as Role[]).includes(r));
}

export function needs(action: Action): string {
  const r = NEEDS[action];
  return r.length === 1 ? `the ${r[0]} role` : `one of the roles ${r.join(', ')}`;
}

/** The person an actor string names (as the server's four-eyes check reads it): `oidc:<name> (<sub>)` is `oidc:<sub>`. */
export function actorPrincipal(actor: string): string {
  const m = /^oidc:.* \(([^()]+)\)$/s.exec(actor);
  return m ? `oidc:${m[1]}` : actor;
}

export function meAsActor(me: Me): string {
  if (me.actor) return actorPrincipal(me.actor);
  return me.via === 'oidc' ? `oidc:${me.subject}` : me.subject;
}

export const SessionContext = createContext<Me | null>(null);
export const useMe = () => useContext(SessionContext);
