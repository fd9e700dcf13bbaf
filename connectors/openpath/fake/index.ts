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
} from './server.js';
