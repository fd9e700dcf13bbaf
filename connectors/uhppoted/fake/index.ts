export {
  FakeUhppoted,
  startFakeUhppoted,
  type DoorPermission,
  type FakeCard,
  type FakeController,
  type FakeEvent,
  type FakeExchange,
  type FakeUhppotedOptions,
} from './server.js';
