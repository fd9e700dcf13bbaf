export * from './types.js';
export { buildPlan, type BuiltPlan, type PlannedIdentity } from './plan.js';
export { checkGuard, type GuardVerdict } from './guard.js';
export { applyOperations } from './executor.js';
export { runReconcile, approveRun, rejectRun } from './run.js';
export { pullAccessEvents } from './events.js';
export { markCredentialLost, type LostCredentialRequest, type LostCredentialOutcome } from './lost.js';
export { explainIdentity, accessReport, accessReportCsv, roleReport, toCsv, type AccessReportRow, type Explanation, type RoleReport } from './report.js';
export { formatPlan } from './format.js';
