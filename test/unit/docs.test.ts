import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { configKeys } from './docs-keys.js';

/**
 * The reference in docs/ says what the code does: the CLI reference lists exactly the commands
 * and options `lockstep --help` lists, and the configuration reference exactly the keys the
 * configuration schema accepts. A command, option or key added without its line (or a line left
 * behind by one removed) fails here, naming it.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

interface HelpCommand {
  path: string;
  options: string[];
}

/** The commands and options one `--help` lists (commander's layout: two-space indent, wrapped descriptions indented further). */
function parseHelp(text: string): { commands: string[]; options: string[] } {
  const commands: string[] = [];
  const options: string[] = [];
  let section: 'options' | 'commands' | null = null;
  for (const line of text.split('\n')) {
    if (/^Options:/.test(line)) section = 'options';
    else if (/^Commands:/.test(line)) section = 'commands';
    else if (/^\S/.test(line)) section = null;
    else if (section && /^ {2}\S/.test(line)) {
      const head = line.trim().split(/\s{2,}/)[0];
      if (section === 'options') options.push(...(head.match(/--[a-z][a-z-]*/g) ?? []).filter((o) => o !== '--help'));
      else {
        const name = head.split(' ')[0];
        if (name !== 'help') commands.push(name);
      }
    }
  }
  return { commands, options };
}

/**
 * Every leaf command of `lockstep --help`, with its options, walking the groups (audit, review, …):
 * each command's own `--help` text (commander's helpInformation), all printed by one CLI process
 * (test/helpers/cli-help-dump.mjs), since a process per command takes a minute on a busy machine.
 */
async function helpTree(): Promise<{ root: string[]; leaves: HelpCommand[] }> {
  const r = await run(process.execPath, ['--import', 'tsx', '--import', join(ROOT, 'test/helpers/cli-help-dump.mjs'), join(ROOT, 'src/cli.ts')], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', COLUMNS: '200' },
  });
  const all = JSON.parse(r.stdout) as Array<{ path: string[]; help: string }>;
  // a command with subcommands and no options of its own (audit, review, …) is only their group
  const leaves = all
    .filter((c) => c.path.length > 0 && (parseHelp(c.help).commands.length === 0 || parseHelp(c.help).options.length > 0))
    .map((c) => ({ path: c.path.join(' '), options: parseHelp(c.help).options.sort() }));
  return { root: parseHelp(all.find((c) => c.path.length === 0)!.help).options, leaves: leaves.sort((a, b) => a.path.localeCompare(b.path)) };
}

/** The commands docs/cli.md's table documents: each backticked usage in a row's first cell (`a` / `b` for two). */
function documentedCommands(md: string): HelpCommand[] {
  const out: HelpCommand[] = [];
  for (const line of md.split('\n')) {
    const m = /^\| (`.*?`(?: \/ `.*?`)*) \|/.exec(line);
    if (!m || m[1] === '`command`') continue;
    for (const usage of m[1].match(/`[^`]+`/g) ?? []) {
      const words = usage.slice(1, -1).split(' ');
      const path: string[] = [];
      for (const w of words) {
        if (!/^[a-z][a-z-]*$/.test(w)) break;
        path.push(w);
      }
      out.push({ path: path.join(' '), options: [...new Set(usage.match(/--[a-z][a-z-]*/g) ?? [])].sort() });
    }
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** The keys docs/configuration.md's key table lists (its first column). */
function documentedKeys(md: string): string[] {
  const from = md.indexOf('\n## Every key');
  expect(from, 'docs/configuration.md has a section "## Every key"').toBeGreaterThan(-1);
  const table = md.slice(from).split('\n## ')[1];
  return [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
}

describe('the reference in docs/', () => {
  it('lists in docs/cli.md every command and option `lockstep --help` lists, and nothing else', async () => {
    const md = await readFile(join(ROOT, 'docs/cli.md'), 'utf8');
    const { root, leaves } = await helpTree();
    const documented = documentedCommands(md);
    const byPath = new Map(documented.map((d) => [d.path, d]));
    expect(leaves.length).toBeGreaterThan(20);
    const missing = leaves.filter((l) => !byPath.has(l.path)).map((l) => l.path);
    expect(missing, 'commands `lockstep --help` lists that docs/cli.md does not').toEqual([]);
    const extra = documented.filter((d) => !leaves.some((l) => l.path === d.path)).map((d) => d.path);
    expect(extra, 'commands docs/cli.md lists that `lockstep --help` does not').toEqual([]);
    for (const l of leaves) expect(byPath.get(l.path)!.options, `the options of \`lockstep ${l.path}\``).toEqual(l.options);
    for (const o of root) expect(md, `the global option ${o}`).toContain(o);
  }, 30_000);

  it('lists in docs/configuration.md every key the configuration schema accepts, and nothing else', async () => {
    const md = await readFile(join(ROOT, 'docs/configuration.md'), 'utf8');
    const schema = [...new Set(configKeys(configSchema))].sort();
    const documented = documentedKeys(md);
    expect(documented.length).toBe(new Set(documented).size);
    expect(
      schema.filter((k) => !documented.includes(k)),
      'keys the schema accepts that docs/configuration.md does not list',
    ).toEqual([]);
    expect(
      documented.filter((k) => !schema.includes(k)),
      'keys docs/configuration.md lists that the schema does not accept',
    ).toEqual([]);
  });

  it('links only to files that exist, from the README and every file in docs/', async () => {
    const { readdir, stat } = await import('node:fs/promises');
    const files = ['README.md', ...(await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    for (const f of files) {
      const text = await readFile(join(ROOT, f), 'utf8');
      for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/.test(target)) continue; // http:, mailto:
        const path = resolve(join(ROOT, f, '..'), target);
        if (!path.startsWith(ROOT)) continue; // outside the repository (a sibling checkout)
        if (!(await stat(path).catch(() => null))) broken.push(`${f}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
