/**
 * The What-if's mapping tests (issue 27): the edited mappings are checked against the mapping
 * tests, as `lockstep validate` checks the saved ones. Test documents the console sends (named
 * *.test.yaml) are used as sent; otherwise the tests beside the configured mappings are read.
 * A test file that does not parse is reported as the tests' problem, not the plan's.
 */
import { formatIssue } from '../config/yaml.js';
import { parseTestSources, readTestSources, resolveTestFiles, runMappingTests, TEST_FILE, type CompiledPolicy, type TestResult } from '../policy/index.js';

export interface WhatIfTests {
  files: string[];
  passed: number;
  failed: number;
  /** Test files that did not parse (file:line:col: test: field: message). */
  invalid: string[];
  results: TestResult[];
}

/** Mapping documents that are tests (by name), kept apart from the mappings the loader reads. */
export function isTestDocument(file: string): boolean {
  return TEST_FILE.test(file);
}

export async function whatIfTests(mappingPaths: string[], documents: Array<{ file: string; text: string }>, policy: CompiledPolicy): Promise<WhatIfTests> {
  const sent = documents.filter((d) => isTestDocument(d.file));
  const files = sent.length ? sent.map((d) => d.file) : await resolveTestFiles(mappingPaths);
  const sources = sent.length ? sent : await readTestSources(files);
  const { suites, issues } = parseTestSources(sources);
  const report = runMappingTests(policy, suites);
  return { files, passed: report.passed, failed: report.failed + issues.length, invalid: issues.map(formatIssue), results: report.results };
}
