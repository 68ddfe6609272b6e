// Walks a bot type's JSON Schema into the fields the config editor shows.

/**
 * The parts of a JSON Schema (as `GET /api/v1/configs/schemas/{bot_type}` answers it) that the
 * editor reads; every keyword is optional and others may be present.
 */
export interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  items?: JsonSchema
  additionalProperties?: boolean | JsonSchema
  enum?: unknown[]
  const?: unknown
  minimum?: number
  maximum?: number
  description?: string
  /** true: applies without a restart; false: needs one. */
  'x-hot-reload'?: boolean
  [keyword: string]: unknown
}

export interface Field {
  /** Dotted path from the config's root, e.g. parameters.trading.min_profit_bps. */
  path: string
  schema: JsonSchema | undefined
  /** true: applies without a restart; false: needs one; undefined: not marked. */
  hot?: boolean
}

export interface Section {
  path: string
  fields: Field[]
}

/** Leaf fields grouped by their parent object, in schema order. */
export function sections(schema: JsonSchema | null | undefined, prefix = ''): Section[] {
  const out: Section[] = []
  const own: Field[] = []
  for (const [key, sub] of Object.entries<JsonSchema | undefined>(schema?.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key
    // Objects with named properties are sections; maps (symbol → number) are fields.
    if (sub?.properties) out.push(...sections(sub, path))
    else own.push({ path, schema: sub, hot: sub?.['x-hot-reload'] })
  }
  if (own.length) out.unshift({ path: prefix, fields: own })
  return out
}

/** The value at a dotted path of a JSON value (undefined where there is none). */
export function getAt(obj: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj)
}

/** A copy of `obj` with `path` set to `value` (objects on the way created). */
export function setAt(obj: unknown, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.')
  const base: Record<string, unknown> = obj && typeof obj === 'object' && !Array.isArray(obj) ? (obj as Record<string, unknown>) : {}
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
