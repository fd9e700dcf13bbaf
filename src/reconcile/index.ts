export * from './types.js';
export { buildPlan, type BuiltPlan, type PlannedIdentity } from './plan.js';
export { checkGuard, type GuardVerdict } from './guard.js';
export { applyOperations } from './execute.js';
export { runReconcile, approveRun, rejectRun } from './run.js';
export { admitBatch, type BatchAdmission } from './batch.js';
export { pullAccessEvents } from './events.js';
export { findCredentialHolder, lostCredentialIncident, markCredentialLost, type LostCredentialRequest, type LostCredentialOutcome } from './lost.js';
export { formatPlan } from './format.js';
