/** The Entra ID source: Microsoft Graph delta queries → identities. See README.md in this folder. */
export * from './config.js';
export { pullEntra, resetEntraClients, usersStateKey, groupsStateKey } from './pull.js';
export type { PullEntraDeps, PullResult, HeldRemoval, RoundMode, EntraLogger, EntraSource } from './pull.js';
export { EntraGraph, createCredential, isResyncRequired } from './graph.js';
export type { EntraGraphOptions, GraphPage } from './graph.js';
export { compileUserMapping, defaultAttributeMap, mapUser, OBJECT_ID_ATTRIBUTE } from './mapping.js';
export type { GraphUser, UserMapping } from './mapping.js';
export { GroupState } from './groups.js';
export type { GraphGroup, GroupStateJson } from './groups.js';
export { ROLE_TYPE } from './roles.js';
export { parseRetryAfter } from './retry.js';
export { FakeGraph } from './fake-graph.js';
export type { FakeUser, FakeGraphOptions } from './fake-graph.js';
