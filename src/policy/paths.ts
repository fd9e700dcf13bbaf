/**
 * What a path in a mapping file names, for people: `rules[2].when` → `rule "dc-ops": when`,
 * `accessGroups[1].protectionClass` → `access group "whitespace": protectionClass`; null when the
 * item has no id to name it by.
 */
export function namedPath(raw: unknown, path: string): string | null {
  const m = /^(rules|accessGroups)\[(\d+)\](?:\.(.*))?$/.exec(path);
  if (!m || raw === null || typeof raw !== 'object') return null;
  const list = (raw as Record<string, unknown>)[m[1]];
  const item = Array.isArray(list) ? (list[Number(m[2])] as Record<string, unknown> | undefined) : undefined;
  const id = item && typeof item.id === 'string' && item.id !== '' ? item.id : null;
  if (!id) return null;
  return `${m[1] === 'rules' ? 'rule' : 'access group'} "${id}"${m[3] ? `: ${m[3]}` : ''}`;
}
