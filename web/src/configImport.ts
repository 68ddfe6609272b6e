// Configurations brought in by hand: JSON files dropped (or chosen), stored configurations
// dragged onto the editor, a bot cloned. Each is checked by the gateway before anything is saved.

import { ApiError, call, isRecord, type FieldError } from './api'

/** The drag payload of a stored configuration (its id) dragged onto the editor. */
export const CONFIG_DRAG_TYPE = 'application/x-sniperforge-config'

/** Largest configuration file read. */
export const FILE_MAX = 1 << 20
/** Most files one drop imports. */
export const FILES_MAX = 20

/** One file as read: its configuration, or why it has none. */
export interface ImportedFile {
  name: string
  config: Record<string, unknown> | null
  /** Why the file holds no configuration (too large, not JSON, not an object). */
  problem: string
}

/** Reads dropped or chosen files as configurations (at most {@link FILES_MAX}, each at most {@link FILE_MAX} bytes). */
export async function readConfigFiles(files: readonly File[]): Promise<ImportedFile[]> {
  const out: ImportedFile[] = []
  for (const f of files.slice(0, FILES_MAX)) {
    if (f.size > FILE_MAX) {
      out.push({ name: f.name, config: null, problem: `${f.size} bytes: a configuration file is at most ${FILE_MAX}` })
      continue
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(await f.text())
    } catch (e) {
      out.push({ name: f.name, config: null, problem: `not JSON: ${e instanceof Error ? e.message : String(e)}` })
      continue
    }
    out.push(
      isRecord(parsed)
        ? { name: f.name, config: parsed, problem: '' }
        : { name: f.name, config: null, problem: 'not a configuration (a JSON object)' },
    )
  }
  return out
}

/** What the gateway says of a configuration: valid, or its errors at their fields. */
export interface Checked {
  valid: boolean
  errors: FieldError[]
  /** An error that is no field's (the request failed). */
  message: string
}

/** Checks `config` with the gateway (`POST /api/v1/configs/validate`), storing nothing. */
export async function checkConfig(config: unknown): Promise<Checked> {
  try {
    await call('POST /api/v1/configs/validate', { body: { config: config as never } })
    return { valid: true, errors: [], message: '' }
  } catch (e) {
    if (e instanceof ApiError && e.code === 'invalid_config') return { valid: false, errors: e.fieldErrors(), message: e.message }
    return { valid: false, errors: [], message: e instanceof Error ? e.message : String(e) }
  }
}

const HANDOFF = 'sniperforge:import'

/** Hands `config` to the new-bot editor (a clone, an import opened there). */
export function handToEditor(config: Record<string, unknown>): void {
  sessionStorage.setItem(HANDOFF, JSON.stringify(config))
}

/** The configuration handed to the editor, once (`null`: none). */
export function takeHandoff(): Record<string, unknown> | null {
  const text = sessionStorage.getItem(HANDOFF)
  sessionStorage.removeItem(HANDOFF)
  if (!text) return null
  try {
    const v: unknown = JSON.parse(text)
    return isRecord(v) ? v : null
  } catch {
    return null
  }
}

/** A copy of `config` under another bot id (`<id>-copy`, or `id` when given). */
export function cloneOf(config: Record<string, unknown>, id?: string): Record<string, unknown> {
  const base = typeof config.bot_id === 'string' ? config.bot_id : 'bot'
  // Ids are at most 64 characters: a long one is cut before its suffix, never after.
  return { ...structuredClone(config), bot_id: id ?? `${base.slice(0, 59)}-copy` }
}
