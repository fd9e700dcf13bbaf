/** The policy engine: mapping files -> compiled policy -> an identity's entitlements with reasons. */
export { loadMappings, parseMappings, parseMappingSources } from './loader.js';
export type { LoadedMappings, MappingIssue, MappingSource } from './loader.js';
export { compile } from './compile.js';
export type {
  BundleGrant,
  ClassPolicy,
  CompiledGrant,
  CompiledPolicy,
  CompiledRole,
  CompiledRule,
  IssuePath,
  LimitSource,
  PolicyIssue,
} from './compile.js';
export { evaluate, explainText } from './evaluate.js';
export { applyExceptions, exceptionReason, type ExceptionRef } from './exceptions.js';
export type { Denial, EvaluateOptions, Evaluation } from './evaluate.js';
export { parseFilter, matchFilter, identityView } from './filter.js';
export type { CompiledFilter, FilterHit, FilterOutcome, FilterView } from './filter.js';
export type {
  AccessGroupSpec,
  ClassPolicySpec,
  GuardPolicy,
  LeaverAction,
  Lifecycle,
  Mappings,
  MappingsInput,
  OrphanAction,
  RoleBundleSpec,
  RuleSpec,
  ValidityLimit,
} from './schema.js';
