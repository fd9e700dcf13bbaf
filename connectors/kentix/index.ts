export { KentixDriver, createKentixDriver, factory, kentixOptionsSchema, type KentixOptions } from './driver.js';
export { KENTIX_PATHS, credentialIds } from './api.js';
export {
  FakeKentix,
  startFakeKentix,
  type FakeAccessProfile,
  type FakeEvent,
  type FakeKentixOptions,
  type FakeTimeProfile,
  type FakeUser,
} from './fake/index.js';
