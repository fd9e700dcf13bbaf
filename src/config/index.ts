export * from './schema.js';
export * from './load.js';
export type { YamlIssue } from './yaml.js';
