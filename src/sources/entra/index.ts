/** The Entra ID source: Microsoft Graph delta queries → identities. See README.md in this folder. */
export * from './config.js';
export { pullEntra, resetEntraClients, usersStateKey, groupsStateKey } from './pull.js';
export type { PullEntraDeps, PullResult, HeldRemoval, RoundMode, EntraLogger, EntraSource } from './pull.js';
export type { EntraGraphOptions, GraphPage } from './graph.js';
export type { GraphUser, UserMapping } from './mapping.js';
export type { GraphGroup, GroupStateJson } from './groups.js';
export { FakeGraph } from './fake-graph.js';
export type { FakeUser, FakeGraphOptions } from './fake-graph.js';
