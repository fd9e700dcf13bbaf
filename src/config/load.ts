import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LockstepError } from '../domain/errors.js';
import { configSchema, type Config } from './schema.js';
import { formatIssue, issueAt, offsetOf, parseYaml, zodIssues, type IssuePath, type YamlIssue } from './yaml.js';

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the config file. */
  file: string;
  /** Directory relative paths in the config are taken from. */
  baseDir: string;
  /** Absolute mapping paths. */
  mappingPaths: string[];
}

/**
 * `${VAR}` reads the environment, `${VAR:-default}` falls back. An unset variable without a
 * default is an error at its line: a config must not silently run with an empty token.
 */
function substituteEnv(value: unknown, path: IssuePath, env: NodeJS.ProcessEnv, missing: Array<{ path: IssuePath; name: string }>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, def: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      missing.push({ path, name });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, [...path, i], env, missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, [...path, k], env, missing)]));
  }
  return value;
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const issues: YamlIssue[] = [];
  const parsed = parseYaml(text, file, issues);
  if (parsed) {
    const missing: Array<{ path: IssuePath; name: string }> = [];
    const raw = substituteEnv(parsed.raw ?? {}, [], env, missing);
    for (const m of missing) issues.push(issueAt(parsed.src, offsetOf(parsed.src, m.path), m.path, `environment variable ${m.name} is not set (use \${${m.name}:-default} for a default)`));
    const r = configSchema.safeParse(raw);
    if (!r.success) issues.push(...zodIssues(parsed.src, r.error));
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
    throw new LockstepError('config', `cannot read the configuration file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (set LOCKSTEP_CONFIG or pass --config)`, { field: 'LOCKSTEP_CONFIG', cause: e });
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
  const fromEnv = (envValue ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  return [...new Set([...configured, ...fromEnv])];
}
