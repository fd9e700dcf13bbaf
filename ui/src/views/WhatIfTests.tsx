/** The mapping tests the What-if ran against the edited mappings (issue 27; docs/policy-as-code.md). */
export interface WhatIfTestsResult {
  files: string[];
  passed: number;
  failed: number;
  invalid: string[];
  results: Array<{ file: string; name: string; passed: boolean; failures: string[] }>;
}

export function WhatIfTests({ tests }: { tests: WhatIfTestsResult | undefined }) {
  if (!tests || (tests.results.length === 0 && tests.invalid.length === 0)) return null;
  const failed = tests.results.filter((t) => !t.passed);
  return (
    <section aria-label="mapping tests" className={tests.failed ? 'tests-failed' : 'tests-passed'}>
      <h3>
        Mapping tests: {tests.passed} passed{tests.failed ? `, ${tests.failed} failed` : ''}
      </h3>
      {tests.invalid.length ? (
        <ul aria-label="invalid test files">
          {tests.invalid.map((m) => (
            <li key={m}>
              <code>{m}</code>
            </li>
          ))}
        </ul>
      ) : null}
      {failed.length ? (
        <ul aria-label="failed tests">
          {failed.map((t) => (
            <li key={`${t.file}:${t.name}`}>
              <strong>{t.name}</strong> <span className="muted">({t.file})</span>
              <ul>
                {t.failures.map((f) => (
                  <li key={f}>{f}</li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
