export * from './errors.js';
export * from './identity.js';
export * from './access.js';
export * from './plan.js';
