import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LockstepError } from '../domain/errors.js';
import { configSchema, type Config } from './schema.js';
import { explainedElsewhere, parseSubstituted, substituteEnv } from './env.js';
import { formatIssue, formatPath, issueAt, offsetOf, parseYaml, zodIssues, type YamlIssue } from './yaml.js';

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the config file. */
  file: string;
  /** Directory relative paths in the config are taken from. */
  baseDir: string;
  /** Absolute mapping paths. */
  mappingPaths: string[];
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const issues: YamlIssue[] = [];
  const parsed = parseYaml(text, file, issues);
  if (parsed) {
    const doc = substituteEnv(parsed.raw ?? {}, env);
    for (const m of doc.missing)
      issues.push(
        issueAt(parsed.src, offsetOf(parsed.src, m.path), m.path, `environment variable ${m.name} is not set (use \${${m.name}:-default} for a default)`),
      );
    const { result: r, problems } = parseSubstituted(configSchema, doc);
    for (const p of problems) issues.push(issueAt(parsed.src, offsetOf(parsed.src, p.path), p.path, p.message));
    if (!r.success) {
      const explained = new Set([...doc.missing, ...problems].map((x) => formatPath(x.path)));
      issues.push(
        ...zodIssues(
          parsed.src,
          r.error.issues.filter((i) => !explainedElsewhere(i, explained)),
        ),
      );
    }
    if (issues.length === 0 && r.success) return r.data;
  }
  throw new LockstepError('validation', `invalid configuration:\n${issues.map(formatIssue).join('\n')}`, { field: issues[0]?.path, details: issues });
}

/** Reads lockstep.yaml (LOCKSTEP_CONFIG, default ./lockstep.yaml). */
export async function loadConfig(path = process.env.LOCKSTEP_CONFIG ?? './lockstep.yaml', env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LockstepError(
      'config',
      `cannot read the configuration file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (set LOCKSTEP_CONFIG or pass --config)`,
      { field: 'LOCKSTEP_CONFIG', cause: e },
    );
  }
  const config = parseConfig(text, file, env);
  const baseDir = dirname(file);
  return { config, file, baseDir, mappingPaths: config.mappings.map((m) => (isAbsolute(m) ? m : resolve(baseDir, m))) };
}

/** Resolves a path from the config relative to the config file's directory. */
export function resolveFromConfig(loaded: Pick<LoadedConfig, 'baseDir'>, p: string): string {
  return isAbsolute(p) ? p : resolve(loaded.baseDir, p);
}

/** Tokens from config plus a comma-separated environment variable (rotation: several at once). */
export function tokensFrom(configured: string[], envValue: string | undefined): string[] {
  const fromEnv = (envValue ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return [...new Set([...configured, ...fromEnv])];
}
