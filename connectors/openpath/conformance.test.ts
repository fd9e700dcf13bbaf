import { describeConformance } from '../../src/drivers/conformance.js';
import { startOpenpathHarness } from './harness.js';

describeConformance('openpath', () => startOpenpathHarness());
