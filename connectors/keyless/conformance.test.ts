import { describeConformance } from '../../src/drivers/conformance.js';
import { startKeylessHarness } from './harness.js';

describeConformance('keyless', () => startKeylessHarness());
