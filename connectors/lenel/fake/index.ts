export {
  FAKE_BASE_PATH,
  FakeLenel,
  parseFilter,
  startFakeLenel,
  type FakeExchange,
  type FakeLenelOptions,
  type FakeLoggedEvent,
  type Props,
} from './server.js';
