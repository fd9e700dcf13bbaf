export { GenetecDriver, createGenetecDriver, factory, genetecOptionsSchema, namesFor, type GenetecOptions } from './driver.js';
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
} from './fake/index.js';
