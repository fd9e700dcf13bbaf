/**
 * Governance: access requests, access reviews, access exceptions, the access and role reports,
 * incidents and the invariant violations report. A floor above reconcile: it reads the plan
 * and the store; reconcile never imports it (what a plan needs of governance, the exceptions
 * and requests in force, it reads from the store).
 */
export { explainIdentity, accessReport, accessReportCsv, roleReport, toCsv, type AccessReportRow, type Explanation, type RoleReport } from './report.js';
export { createAccessException, removeAccessException, findAccessExceptions, findPerson, futureInstant, type ExceptionRequest } from './exceptions.js';
export {
  createAccessRequest,
  approveAccessRequest,
  denyAccessRequest,
  findAccessRequests,
  GovernanceForbidden,
  type Caller,
  type RequestInput,
} from './requests.js';
export {
  startReview,
  decideReviewItem,
  tickReviews,
  reviewReport,
  reviewReportCsv,
  listReviewCampaigns,
  type ReviewReport,
  type ReviewTick,
} from './reviews.js';
export {
  acknowledgeIncident,
  closeIncident,
  describeIncidents,
  getIncidentView,
  listIncidentViews,
  parseIncidentStep,
  recordIncidentReport,
  tickIncidents,
  type IncidentWithPerson,
} from './incidents.js';
export { violationReport, violationReportCsv, violationReportText, type ViolationReport } from './violations.js';
export { reportLostCredential, type LostReport, type LostReportOutcome } from './lost.js';
