export {
  FakeGenetec,
  startFakeGenetec,
  type FakeAccessRule,
  type FakeCardholder,
  type FakeCardholderGroup,
  type FakeCredential,
  type FakeCustomField,
  type FakeEvent,
  type FakeExchange,
  type FakeGenetecOptions,
} from './server.js';
