/** A small data centre for the reconcile tests: four classes, employees, contractors, a role bundle. */
export const MAPPINGS = `
version: 1
employeeTypes: [Employee]
classes:
  "3": { maxValidityDays: 180, unusedCredentialDays: 60, sponsorRequired: true }
  "4": { maxValidityDays: 90, unusedCredentialDays: 30, sponsorRequired: true }
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: offices, system: dc1, ref: AG-OFFICE, name: Offices, protectionClass: 2 }
  - { id: power, system: dc1, ref: AG-POWER, name: Power room, protectionClass: 3 }
  - { id: whitespace, system: dc1, ref: AG-WS, name: Server whitespace, protectionClass: 4 }
roles:
  dc-technician:
    grant: [power, whitespace]
rules:
  - id: everyone
    when: 'active eq true'
    grant: [perimeter]
  - id: office-staff
    when: 'employeeType eq "Employee"'
    grant: [offices]
  - id: dc-ops
    when: 'groups eq "DC Operations"'
    roles: [dc-technician]
    validity: { until: contractEnd }
lifecycle:
  leaver: suspend
  preHireDays: 7
  orphans: suspend
  guard: { maxRevocationsPercent: 30, maxRevocationsAbsolute: 100, minRevocationsToHold: 3 }
`;
