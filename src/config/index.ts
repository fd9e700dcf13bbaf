export * from './schema.js';
export * from './load.js';
export { formatIssue, type YamlIssue } from './yaml.js';
