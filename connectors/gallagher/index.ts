export { GallagherDriver, createGallagherDriver, factory, gallagherOptionsSchema, type GallagherOptions } from './driver.js';
export { DEFAULT_CARD_STATES, type CardStateNames } from './mapping.js';
export {
  CC_LAYOUT,
  FakeCommandCentre,
  SCRAMBLED_LAYOUT,
  startFakeCommandCentre,
  type FakeCommandCentreOptions,
  type FakeExchange,
  type FakeLayout,
} from './fake/index.js';
