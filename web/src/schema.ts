// Walks a bot type's JSON Schema into the fields the config editor shows.

export interface Field {
  /** Dotted path from the config's root, e.g. parameters.trading.min_profit_bps. */
  path: string
  schema: any
  /** true: applies without a restart; false: needs one; undefined: not marked. */
  hot?: boolean
}

export interface Section {
  path: string
  fields: Field[]
}

/** Leaf fields grouped by their parent object, in schema order. */
export function sections(schema: any, prefix = ''): Section[] {
  const out: Section[] = []
  const own: Field[] = []
  for (const [key, sub] of Object.entries<any>(schema?.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key
    // Objects with named properties are sections; maps (symbol → number) are fields.
    if (sub?.properties) out.push(...sections(sub, path))
    else own.push({ path, schema: sub, hot: sub?.['x-hot-reload'] })
  }
  if (own.length) out.unshift({ path: prefix, fields: own })
  return out
}

export function getAt(obj: any, path: string): any {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj)
}

/** A copy of `obj` with `path` set to `value` (objects on the way created). */
export function setAt(obj: any, path: string, value: any): any {
  const [head, ...rest] = path.split('.')
  const base = obj && typeof obj === 'object' && !Array.isArray(obj) ? obj : {}
  return { ...base, [head]: rest.length ? setAt(base[head], rest.join('.'), value) : value }
}

/**
 * The server's errors for a field: their paths are dotted from the root, or from `parameters`
 * for parameter fields.
 */
export function errorsFor(path: string, errors: { path: string; message: string }[]): string[] {
  const short = path.startsWith('parameters.') ? path.slice('parameters.'.length) : null
  return errors
    .filter((e) => e.path === path || (short !== null && e.path === short))
    .map((e) => e.message)
}

/** Errors that belong to no field shown (unknown fields, whole-config rules). */
export function unplacedErrors(
  fields: Field[],
  errors: { path: string; message: string }[],
): { path: string; message: string }[] {
  return errors.filter((e) => !fields.some((f) => errorsFor(f.path, [e]).length > 0))
}
