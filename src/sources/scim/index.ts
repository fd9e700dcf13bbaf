export { createScimRouter, serviceProviderConfig, type ScimRouterDeps } from './router.js';
export { scimConfigSchema, type ScimConfig } from './config.js';
export { ScimService, type Changes, type ListParams, type ListResult } from './service.js';
export { ScimError, type ScimType } from './errors.js';
export { createAuthenticator, scimTokens, type ScimAuthenticator } from './auth.js';
export { identityFromUser } from './mapping.js';
export { URN as SCIM_URN } from './schemas.js';
