export {
  EVENT_DENIED,
  EVENT_UNLOCKED,
  FakeNebula,
  NEBULA_SCOPE,
  startFakeNebula,
  type FakeEvent,
  type FakeKey,
  type FakeKeyKind,
  type FakeNebulaOptions,
  type FakeUser,
  type FakeUserAccessRight,
} from './server.js';
