import { describeConformance } from '../../src/drivers/conformance.js';
import { startGenetecHarness } from './harness.js';

describeConformance('genetec', () => startGenetecHarness());
// CLIQ through Security Center: the same driver as a data-on-key system
describeConformance('genetec (CLIQ, offline keys)', () => startGenetecHarness({ driver: { offline: { revalidationDays: 7 } } }));
// a site that grants through cardholder groups
describeConformance('genetec (cardholder groups)', () => startGenetecHarness({ driver: { accessGroups: 'cardholderGroups' } }));
