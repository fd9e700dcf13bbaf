/** The policy engine: mapping files -> compiled policy -> an identity's entitlements with reasons. */
export { loadMappings, parseMappings, parseMappingSources } from './loader.js';
export type { LoadedMappings, MappingIssue, MappingSource } from './loader.js';
export { compile } from './compile.js';
export type { BundleGrant, ClassPolicy, CompiledGrant, CompiledPolicy, CompiledRole, CompiledRule, IssuePath, LimitSource, PolicyIssue } from './compile.js';
export { evaluate, explainText } from './evaluate.js';
export { applyExceptions, exceptionReason, type ExceptionRef } from './exception-denials.js';
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
export {
  applyInvariants,
  heldViolations,
  holderCounts,
  overHolders,
  scopeGroupsOf,
  type CompiledInvariant,
  type CompiledInvariants,
  type HolderCounts,
} from './invariants.js';
export {
  formatTestReport,
  junitXml,
  mappingTestFileSchema,
  parseTests,
  parseTestSources,
  readTestSources,
  resolveTestFiles,
  runMappingTests,
  TEST_FILE,
  type MappingTest,
  type TestReport,
  type TestResult,
  type TestSource,
  type TestSuite,
} from './tests.js';
export type { InvariantSpec } from './schema.js';
