export { OpenpathDriver, createOpenpathDriver, factory, namesFor, openpathOptionsSchema, type OpenpathOptions } from './driver.js';
export {
  FakeOpenpath,
  startFakeOpenpath,
  type FakeCredential,
  type FakeCredentialKind,
  type FakeEvent,
  type FakeExchange,
  type FakeGroup,
  type FakeOpenpathOptions,
  type FakeUser,
} from './fake/index.js';
