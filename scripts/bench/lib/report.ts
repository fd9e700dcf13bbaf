import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, so the benches work from any working directory. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BENCHMARKS_MD = join(ROOT, 'docs', 'BENCHMARKS.md');

export interface Machine {
  cores: number;
  memoryGiB: number;
  cpu: string;
  node: string;
  platform: string;
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    // /proc/cpuinfo is what the brief names; os.cpus() says the same on Linux but not everywhere
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux: keep os.cpus()
  }
  return {
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpu,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export function machineLine(m: Machine = machine()): string {
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.platform}`;
}

/** Other work on the machine skews every figure on 2 cores: each run records the load it ran under. */
export function loadLine(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
}

export type Cell = string | number | null | undefined;

function cellText(c: Cell): string {
  if (c === null || c === undefined) return '–';
  if (typeof c === 'number') {
    if (!Number.isFinite(c)) return String(c);
    if (Number.isInteger(c)) return c.toLocaleString('en-US');
    return c >= 100 ? Math.round(c).toLocaleString('en-US') : c.toFixed(c >= 10 ? 1 : 2);
  }
  return c;
}

/** A fixed-width table for the terminal. */
export function textTable(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** The same table as Markdown, for docs/BENCHMARKS.md. */
export function markdownTable(headers: string[], rows: Cell[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${headers.map(esc).join(' | ')} |`,
    `| ${headers.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map((c) => esc(cellText(c))).join(' | ')} |`),
  ].join('\n');
}

export interface Section {
  title?: string;
  headers: string[];
  rows: Cell[][];
  notes?: string[];
}

/** The command line as the user would retype it (npm run bench:x -- args). */
export function commandLine(script: string): string {
  const args = process.argv.slice(2);
  return `npm run ${script}${args.length ? ` -- ${args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}` : ''}`;
}

const LOG_MARKER = '<!-- bench runs are appended below this line by `npm run bench:*` -->';

/**
 * Prints the tables and appends them, the command and the machine to docs/BENCHMARKS.md.
 * Appending (never rewriting) keeps every measured run, so figures in the summary can be
 * traced to the run that produced them.
 */
export async function publish(bench: string, script: string, sections: Section[], opts: { write?: boolean; notes?: string[] } = {}): Promise<void> {
  const m = machine();
  const started = new Date().toISOString();
  const out: string[] = [];
  for (const s of sections) {
    out.push('');
    if (s.title) out.push(s.title);
    out.push(textTable(s.headers, s.rows));
    for (const n of s.notes ?? []) out.push(`  ${n}`);
  }
  for (const n of opts.notes ?? []) out.push(`  ${n}`);
  out.push('', `machine: ${machineLine(m)}; load average (1/5/15 min) at the end: ${loadLine()}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (opts.write === false) return;

  const md: string[] = [
    '',
    `### ${bench} — ${started.slice(0, 19).replace('T', ' ')} UTC`,
    '',
    `Command: \`${commandLine(script)}\`  `,
    `Machine: ${machineLine(m)}  `,
    `Load average (1/5/15 min) at the end of the run: ${loadLine()}`,
    '',
  ];
  for (const s of sections) {
    if (s.title) md.push(`**${s.title}**`, '');
    md.push(markdownTable(s.headers, s.rows), '');
    for (const n of s.notes ?? []) md.push(`- ${n}`);
    if (s.notes?.length) md.push('');
  }
  for (const n of opts.notes ?? []) md.push(`- ${n}`);
  let current = '';
  try {
    current = await readFile(BENCHMARKS_MD, 'utf8');
  } catch {
    current = '';
  }
  if (!current.includes(LOG_MARKER)) {
    await writeFile(BENCHMARKS_MD, `${current}${current ? '\n' : '# Benchmarks\n\n'}## Runs\n\n${LOG_MARKER}\n`);
  }
  await appendFile(BENCHMARKS_MD, `${md.join('\n')}\n`);
  process.stdout.write(`appended to ${BENCHMARKS_MD}\n`);
}

/** Milliseconds since `t0` (performance.now()). */
export function since(t0: number): number {
  return performance.now() - t0;
}

export function peakRssMiB(): number {
  // maxRSS is in kilobytes; it is the process's high-water mark, never reset
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function verdict(value: number, target: number, lowerIsBetter = true): string {
  const ok = lowerIsBetter ? value <= target : value >= target;
  return ok ? 'met' : 'MISSED';
}
