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
} from './server.js';
