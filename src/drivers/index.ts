// The conformance kit (./conformance.js) is not re-exported: it imports vitest, which only
// test code may load. Import it from 'src/drivers/conformance.js' in a driver's tests.
export * from './contract.js';
export * from './http.js';
export * from './registry.js';
export * from './util.js';
export * from './options.js';
export * from './retry-log.js';
export * from './tls.js';
