import { describeConformance } from '../../src/drivers/conformance.js';
import { startLenelHarness } from './harness.js';

describeConformance('lenel', () => startLenelHarness());
