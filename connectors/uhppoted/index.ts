export { UhppotedDriver, createUhppotedDriver, factory, fromCardDates, toCardDates, uhppotedOptionsSchema, type UhppotedOptions } from './driver.js';
export { FakeUhppoted, startFakeUhppoted, type FakeCard, type FakeEvent, type FakeExchange, type FakeUhppotedOptions } from './fake/index.js';
