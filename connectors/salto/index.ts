export { SaltoDriver, codeFor, createSaltoDriver, decodeUserId, encodeUserId, factory, namesFor, saltoOptionsSchema, type SaltoOptions } from './driver.js';
export {
  FakeNebula,
  startFakeNebula,
  type FakeEvent,
  type FakeKey,
  type FakeKeyKind,
  type FakeNebulaOptions,
  type FakeUser,
  type FakeUserAccessRight,
} from './fake/index.js';
