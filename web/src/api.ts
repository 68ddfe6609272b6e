// The gateway's REST API and WebSocket streams, with the session's bearer token.

export type Role = 'viewer' | 'operator' | 'admin'

const ROLES: Role[] = ['viewer', 'operator', 'admin']

/** Whether `role` may do what `needed` may. */
export function can(role: Role | undefined, needed: Role): boolean {
  return role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(needed)
}

export interface FieldError {
  path: string
  message: string
}

/** An error answer: `{"error": {code, message, details}}`. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details: unknown,
  ) {
    super(message)
  }

  /** Per-field errors of an invalid configuration. */
  fieldErrors(): FieldError[] {
    return Array.isArray(this.details)
      ? (this.details as FieldError[]).filter((d) => typeof d?.path === 'string')
      : []
  }
}

const KEY = 'sniperforge.token'

export function getToken(): string | null {
  return sessionStorage.getItem(KEY)
}

export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(KEY)
  else sessionStorage.setItem(KEY, token)
}

/** Calls the API; throws [`ApiError`] for an error answer or an unreachable gateway. */
export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const h: Record<string, string> = { ...headers }
  const token = getToken()
  if (token) h.authorization = `Bearer ${token}`
  if (body !== undefined) h['content-type'] = 'application/json'
  let resp: Response
  try {
    resp = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch (e) {
    throw new ApiError(0, 'unreachable', `gateway unreachable: ${String(e)}`, null)
  }
  const text = await resp.text()
  let json: any = null
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    json = null
  }
  if (!resp.ok) {
    const err = json?.error
    if (resp.status === 401) window.dispatchEvent(new Event('sniperforge:logout'))
    throw new ApiError(
      resp.status,
      err?.code ?? 'http',
      err?.message ?? `${method} ${path}: HTTP ${resp.status}`,
      err?.details ?? null,
    )
  }
  return json as T
}

export interface StreamHandle {
  close(): void
}

/**
 * Subscribes to `topics` on `/api/v1/ws/<kind>`; calls `onMessage` with each message and
 * reconnects (0.5 s doubling to 10 s) when the socket drops.
 */
export function stream(
  kind: 'metrics' | 'logs',
  topics: string[],
  onMessage: (msg: any) => void,
  onState?: (connected: boolean) => void,
): StreamHandle {
  let closed = false
  let socket: WebSocket | null = null
  let delay = 500
  let timer: ReturnType<typeof setTimeout> | undefined
  const open = () => {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws'
    const token = encodeURIComponent(getToken() ?? '')
    socket = new WebSocket(`${proto}://${location.host}/api/v1/ws/${kind}?token=${token}`)
    socket.onopen = () => {
      delay = 500
      onState?.(true)
      socket?.send(JSON.stringify({ subscribe: topics }))
    }
    socket.onmessage = (ev) => {
      try {
        onMessage(JSON.parse(String(ev.data)))
      } catch {
        // A message that is not JSON is not ours to show.
      }
    }
    socket.onclose = () => {
      onState?.(false)
      if (!closed) {
        timer = setTimeout(open, delay)
        delay = Math.min(delay * 2, 10_000)
      }
    }
  }
  open()
  return {
    close() {
      closed = true
      if (timer) clearTimeout(timer)
      socket?.close()
    },
  }
}

/** ns as a short human string: 850 ns, 12.3 µs, 4.56 ms, 1.20 s. */
export function fmtNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '—'
  if (ns < 1_000) return `${Math.round(ns)} ns`
  if (ns < 1_000_000) return `${(ns / 1_000).toPrecision(3)} µs`
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toPrecision(3)} ms`
  return `${(ns / 1_000_000_000).toPrecision(3)} s`
}

export function fmtUsd(v: unknown): string {
  return typeof v === 'number' ? `${v < 0 ? '−' : ''}$${Math.abs(v).toFixed(2)}` : '—'
}

/** A reported bot status (`{"state": "error", "reason": "…", …}`) as text. */
export function fmtStatus(s: unknown): string {
  if (s === null || s === undefined) return 'unreported'
  if (typeof s === 'string') return s
  if (typeof s === 'object') {
    const o = s as Record<string, unknown>
    if (typeof o.state === 'string') return o.reason ? `${o.state}: ${String(o.reason)}` : o.state
  }
  return 'unknown'
}

export { BOT_TYPES } from './generated/protocol'
