/** EN 50600 protection classes: 0 (public) to 4 (highest: e.g. server whitespace, cages). */
export type ProtectionClass = 0 | 1 | 2 | 3 | 4;

/** An access group as the mappings declare it. */
export interface AccessGroup {
  /** Mapping-wide id, used by rules and role bundles (e.g. `dc1-whitespace`). */
  id: string;
  /** Name of the lock system (a key of `systems` in lockstep.yaml). */
  system: string;
  /** The group's reference in that system (Gallagher: access group id or href; simulator: group id). */
  ref: string;
  name: string;
  protectionClass: ProtectionClass;
  /**
   * Offline (data-on-card) doors in a system that is otherwise online (CLIQ cylinders beside
   * Aperio locks under one Security Center): revocations reach them when keys revalidate.
   * Overrides the system's capabilities.offline for this group.
   */
  offline?: { revalidationDays: number };
}

/** Why an entitlement exists: which rule, which role bundle, which attribute values matched. */
export interface Reason {
  rule: string;
  /** The mapping role bundle that carried the access group, when it came through one. */
  role?: string;
  /** Chain of bundles when bundles include each other, outermost first. */
  roleChain?: string[];
  /** The source role (SCIM roles / Entra app role / HR roles column) that matched, if any. */
  sourceRole?: string;
  /** Attribute values that the rule's filter looked at, as the identity had them. */
  matched: Record<string, unknown>;
  /** Free text describing limits applied (e.g. "validity capped by class 4 maximum 90 days"). */
  notes?: string[];
}

/** A desired membership of one identity in one access group. */
export interface Entitlement {
  identityId: string;
  accessGroup: AccessGroup;
  /** ISO date-time; null = no lower bound. */
  validFrom: string | null;
  /** ISO date-time; null = no upper bound. */
  validUntil: string | null;
  reasons: Reason[];
  /** Credentials of holders of this group are exempt from the unused-credential sweep. */
  exemptFromUnusedExpiry?: boolean;
}

/** Lock-system side vocabulary, shared by drivers and reconcile. */
export type AccountState = 'active' | 'suspended';
export type CredentialType = 'card' | 'key' | 'mobile' | 'pin';
export type CredentialStatus = 'active' | 'suspended' | 'lost' | 'revoked';

export interface Validity {
  /** ISO date-time or null. */
  from: string | null;
  until: string | null;
}

export interface Membership extends Validity {
  /** The group's reference in the lock system. */
  group: string;
}

export interface Credential {
  id: string;
  type: CredentialType;
  /** Card number / key id, as the system shows it (may be masked). */
  number?: string;
  status: CredentialStatus;
  lastUsedAt: string | null;
  /**
   * Data-on-card systems (capabilities.offline): until when the key opens what it last learned.
   * A revocation reaches offline locks when the key is next updated, at the latest by then.
   */
  keyExpiresAt?: string | null;
}

export interface Account {
  /** The lock system's id of the account (cardholder). */
  id: string;
  /** Correlation key: the identity's externalId when lockstep created or linked it. */
  externalId: string | null;
  displayName: string;
  state: AccountState;
  memberships: Membership[];
  credentials: Credential[];
  /** Account-level validity, for systems whose capabilities.validity is 'account'. */
  validity?: Validity;
}

export interface AccountInput {
  externalId: string;
  displayName: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  /** Account-level validity where the system keeps dates on the person. */
  validity?: Validity;
}

export interface AccessEvent {
  /** Stable id of the event in the lock system. */
  id: string;
  at: string;
  accountId: string | null;
  credentialId: string | null;
  door: string | null;
  granted: boolean;
}
