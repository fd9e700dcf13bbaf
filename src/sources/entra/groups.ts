/**
 * Group membership as /groups/delta reports it, kept between rounds. A round's items are
 * applied in order: a group may come back on several pages (large groups span pages, each
 * page carrying a slice of `members@delta`), additions and `@removed` entries alike, and the
 * same change may be replayed. Applying the same item twice leaves the same state.
 */

export interface GraphMemberRef {
  '@odata.type'?: string;
  id: string;
  '@removed'?: { reason?: string };
}

export interface GraphGroup {
  id: string;
  displayName?: string | null;
  'members@delta'?: GraphMemberRef[];
  '@removed'?: { reason?: string };
  [property: string]: unknown;
}

/** As persisted in sync_state: direct members only, users and nested groups apart. */
export interface GroupRecord {
  name: string;
  users: string[];
  groups: string[];
}
export type GroupStateJson = Record<string, GroupRecord>;

interface LiveGroup {
  name: string;
  users: Set<string>;
  groups: Set<string>;
}

export class GroupState {
  private readonly groups = new Map<string, LiveGroup>();

  static fromJson(json: GroupStateJson | null | undefined): GroupState {
    const s = new GroupState();
    for (const [id, g] of Object.entries(json ?? {})) s.groups.set(id, { name: g.name, users: new Set(g.users), groups: new Set(g.groups) });
    return s;
  }

  toJson(): GroupStateJson {
    const out: GroupStateJson = {};
    for (const [id, g] of [...this.groups].sort(([a], [b]) => a.localeCompare(b))) {
      out[id] = { name: g.name, users: [...g.users].sort(), groups: [...g.groups].sort() };
    }
    return out;
  }

  clone(): GroupState {
    return GroupState.fromJson(this.toJson());
  }

  get size(): number {
    return this.groups.size;
  }

  has(id: string): boolean {
    return this.groups.has(id);
  }

  name(id: string): string | undefined {
    return this.groups.get(id)?.name;
  }

  directUsers(id: string): string[] {
    return [...(this.groups.get(id)?.users ?? [])];
  }

  /** Applies one delta item; returns the users whose direct membership it touched. */
  apply(item: GraphGroup): string[] {
    const touched: string[] = [];
    if (item['@removed']) {
      const gone = this.groups.get(item.id);
      if (gone) touched.push(...gone.users);
      this.groups.delete(item.id);
      return touched;
    }
    let g = this.groups.get(item.id);
    if (!g) {
      g = { name: item.displayName ?? item.id, users: new Set(), groups: new Set() };
      this.groups.set(item.id, g);
    }
    if (typeof item.displayName === 'string') g.name = item.displayName;
    for (const m of item['members@delta'] ?? []) {
      if (!m || typeof m.id !== 'string') continue;
      const type = (m['@odata.type'] ?? '#microsoft.graph.user').toLowerCase();
      // Devices, contacts and service principals can be members too; they hold no badges.
      const set = type.endsWith('.user') ? g.users : type.endsWith('.group') ? g.groups : null;
      if (!set) continue;
      if (m['@removed']) set.delete(m.id);
      else set.add(m.id);
      if (set === g.users) touched.push(m.id);
    }
    return touched;
  }

  /**
   * user id → ids of the groups the user belongs to: directly, or (transitive) also through
   * groups nested in them. Cycles in nesting are tolerated.
   */
  memberships(transitive: boolean): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const add = (user: string, group: string) => {
      let s = out.get(user);
      if (!s) out.set(user, (s = new Set()));
      s.add(group);
    };
    if (!transitive) {
      for (const [gid, g] of this.groups) for (const u of g.users) add(u, gid);
      return out;
    }
    // A walk per group over the groups nested in it: cycles end at the visited set, and most
    // groups nest nothing, so this stays close to the number of memberships.
    for (const [gid, root] of this.groups) {
      for (const u of root.users) add(u, gid);
      if (root.groups.size === 0) continue;
      const seen = new Set([gid]);
      const queue = [...root.groups];
      while (queue.length > 0) {
        const child = queue.pop()!;
        if (seen.has(child)) continue;
        seen.add(child);
        const g = this.groups.get(child);
        if (!g) continue;
        for (const u of g.users) add(u, gid);
        queue.push(...g.groups);
      }
    }
    return out;
  }
}
