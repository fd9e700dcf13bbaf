export { LenelDriver, createLenelDriver, factory, fromOnGuardDate, lenelOptionsSchema, namesFor, quote, toOnGuardDate, type LenelOptions } from './driver.js';
export { FAKE_BASE_PATH, FakeLenel, startFakeLenel, type FakeExchange, type FakeLenelOptions, type FakeLoggedEvent, type Props } from './fake/index.js';
