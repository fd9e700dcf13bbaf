import { describeConformance } from '../../src/drivers/conformance.js';
import { startUhppotedHarness } from './harness.js';

describeConformance('uhppoted', () => startUhppotedHarness());
