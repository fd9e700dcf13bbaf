import { describeConformance } from '../../src/drivers/conformance.js';
import { startKentixHarness } from './harness.js';

describeConformance('kentix', () => startKentixHarness());
