export {
  FakeKentix,
  fakeRfidCredentialId,
  startFakeKentix,
  type FakeAccessProfile,
  type FakeEvent,
  type FakeKentixOptions,
  type FakeTimeProfile,
  type FakeUser,
} from './server.js';
