export { KeylessDriver, createKeylessDriver, factory, keylessOptionsSchema, type KeylessOptions } from './driver.js';
export {
  FakeKeyless,
  startFakeKeyless,
  type FakeKeylessOptions,
  type FakeLockingDevice,
  type FakeOperatingDevice,
  type FakeOperatingKey,
  type FakePermission,
  type FakeRequest,
  type FakeUser,
} from './fake/index.js';
