import { describeConformance } from '../../src/drivers/conformance.js';
import { startSaltoHarness } from './harness.js';

describeConformance('salto', () => startSaltoHarness());
