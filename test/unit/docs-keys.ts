import type { z } from 'zod';

/** zod 4's definition of a schema: enough of it to walk objects, records, arrays and unions. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  element?: z.ZodType;
  getter?: () => z.ZodType;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/**
 * Every key path a zod schema accepts, as the configuration reference names them:
 * `queue.schedules.fullReconcileMs`, `systems.<name>.embedded.port`, `auth.tokens[].roles`.
 * Records are `<name>`, array elements `[]`; a union's branches are merged (the two kinds of
 * source, the three kinds of checkpoint sink).
 */
export function configKeys(schema: z.ZodType, prefix = ''): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      const out: string[] = [];
      for (const [k, v] of Object.entries(def.shape!)) {
        const path = prefix ? `${prefix}.${k}` : k;
        out.push(path, ...configKeys(v, path));
      }
      return out;
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return configKeys(def.innerType!, prefix);
    case 'pipe':
      return configKeys(def.in!, prefix);
    case 'lazy':
      return configKeys(def.getter!(), prefix);
    case 'union':
      return [...new Set(def.options!.flatMap((o) => configKeys(o, prefix)))];
    case 'record':
      // free-form maps (driver options, headers, column maps, role maps) have no keys of their own to document
      return configKeys(def.valueType!, `${prefix}.<name>`).length ? configKeys(def.valueType!, `${prefix}.<name>`) : [];
    case 'array':
      return configKeys(def.element!, `${prefix}[]`);
    default:
      return [];
  }
}
