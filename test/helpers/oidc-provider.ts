// The local OIDC provider lives in src/runtime/dev-oidc.ts (`lockstep dev-oidc` serves it for trying sign-in).
export * from '../../src/runtime/dev-oidc.js';
