import { describeConformance } from '../../src/drivers/conformance.js';
import { startGallagherHarness } from './harness.js';

describeConformance('gallagher', () => startGallagherHarness());
