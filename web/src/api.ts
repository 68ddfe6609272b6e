// The gateway's REST API and WebSocket streams, with the session's bearer token.

import type {
  BotData,
  FleetData,
  LogLine,
  LogMessage as GeneratedLogMessage,
  NodeData,
  Percentiles,
  Role as GeneratedRole,
  RolloutList,
  Routes,
  StreamError,
  TopicData,
  TopicMessage,
} from './generated/api'

/** A session's role (`GET /api/v1/auth/me`); an `agent` token may do nothing here. */
export type Role = GeneratedRole

/** The roles of people, each allowed what those before it are. */
const ROLES: readonly Role[] = ['viewer', 'operator', 'admin']

/** Whether `role` may do what `needed` may. */
export function can(role: Role | undefined, needed: Exclude<Role, 'agent'>): boolean {
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

/** Whether `v` is a JSON object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Calls the API and answers the body as `T` (the answer type [`call`] takes from its route);
 * throws [`ApiError`] for an error answer or an unreachable gateway.
 */
async function api<T>(
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
  let json: unknown = null
  try {
    json = text ? (JSON.parse(text) as unknown) : null
  } catch {
    json = null
  }
  if (!resp.ok) {
    // `{"error": {code, message, details}}` (the generated `Error` type), when it is one.
    const err = isRecord(json) && isRecord(json.error) ? json.error : null
    if (resp.status === 401) window.dispatchEvent(new Event('sniperforge:logout'))
    throw new ApiError(
      resp.status,
      typeof err?.code === 'string' ? err.code : 'http',
      typeof err?.message === 'string' ? err.message : `${method} ${path}: HTTP ${resp.status}`,
      err?.details ?? null,
    )
  }
  return json as T
}

/** Every REST route, as `'<METHOD> <path template>'` (e.g. `'GET /api/v1/bots/{bot_id}'`). */
export type Route = keyof Routes

/** The routes that only read (what [`useApi`](./hooks) fetches). */
export type GetRoute = Extract<Route, `GET ${string}`>

/** What `route` answers. */
export type Answer<K extends Route> = Routes[K]['answer']

/** `{name?: T}` where `{}` is a `T` (nothing to give), else `{name: T}`. */
type Part<Name extends string, T> = {} extends T ? { [P in Name]?: T } : { [P in Name]: T }

/** A body where the route takes one; none where it takes none. */
type BodyPart<B> = [B] extends [never] ? { body?: undefined } : { body: B }

/**
 * What a call of `route` gives besides the route: its path parameters, its query string, its
 * body and extra headers, each required where the route needs it.
 */
export type CallArgs<K extends Route> = Part<'params', Routes[K]['params']> &
  Part<'query', Routes[K]['query']> &
  BodyPart<Routes[K]['body']> & { headers?: Record<string, string> }

/** The arguments after the route: optional where the route needs none. */
export type CallRest<K extends Route> = {} extends CallArgs<K> ? [args?: CallArgs<K>] : [args: CallArgs<K>]

/** [`CallArgs`] as the request is built from them, whatever the route. */
interface RequestParts {
  params?: Partial<Record<string, string>>
  query?: Partial<Record<string, string | number | boolean>>
  body?: unknown
  headers?: Record<string, string>
}

/** `route`'s URL: `{name}` replaced by its parameter, the query appended in its order. */
function urlOf(route: Route, { params, query }: RequestParts): string {
  const template = route.slice(route.indexOf(' ') + 1)
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params?.[name]
    if (value === undefined) throw new Error(`${route}: no value for {${name}}`)
    return encodeURIComponent(value)
  })
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined) search.append(name, String(value))
  const q = search.toString()
  return q ? `${path}?${q}` : path
}

/**
 * Calls `route` (e.g. `call('PUT /api/v1/bots/{bot_id}', {params: {bot_id}, body: {config}})`)
 * and answers its answer; throws [`ApiError`] for an error answer or an unreachable gateway, and
 * an `Error` for a path parameter without a value.
 */
export async function call<K extends Route>(route: K, ...[args]: CallRest<K>): Promise<Answer<K>> {
  const parts: RequestParts = args ?? {}
  const method = route.slice(0, route.indexOf(' '))
  return api<Answer<K>>(method, urlOf(route, parts), parts.body, parts.headers)
}

/** Stage → latency percentiles (ns), merged over the bots of a topic. */
export type StageLatency = Partial<Record<string, Percentiles>>

export type { BotData, FleetBotRow, FleetData, NodeData, StreamError } from './generated/api'

/** A topic's metrics (the generated `TopicMessage`), its topic name narrowed to its data. */
export type TopicOf<Topic extends string, Data extends TopicData> = Omit<TopicMessage, 'topic' | 'data'> & {
  topic: Topic
  data: Data
}

export type FleetMessage = TopicOf<'fleet', FleetData>
export type BotMessage = TopicOf<`bot:${string}`, BotData>
export type NodeMessage = TopicOf<`node:${string}`, NodeData>
export type RolloutsMessage = TopicOf<'rollouts', RolloutList>

/** What `/api/v1/ws/metrics` sends: the generated `MetricsMessage`, topics narrowed. */
export type MetricsMessage = FleetMessage | BotMessage | NodeMessage | RolloutsMessage | StreamError

/** What `/api/v1/ws/logs` sends: each log line of a subscribed bot or node, or an error. */
export type LogMessage = GeneratedLogMessage

/** The messages of each stream. */
export interface StreamMessages {
  metrics: MetricsMessage
  logs: LogMessage
}

export type StreamKind = keyof StreamMessages

/** Whether `m` is the `fleet` topic's metrics. */
export function isFleetMessage(m: MetricsMessage): m is FleetMessage {
  return 'topic' in m && m.topic === 'fleet'
}

/** Whether `m` is the `rollouts` topic's list. */
export function isRolloutsMessage(m: MetricsMessage): m is RolloutsMessage {
  return 'topic' in m && m.topic === 'rollouts'
}

/** Whether `m` is a bot topic's metrics: bot `id`'s, or every bot's without `id`. */
export function isBotMessage(m: MetricsMessage, id?: string): m is BotMessage {
  return 'topic' in m && (id === undefined ? m.topic.startsWith('bot:') : m.topic === `bot:${id}`)
}

/** Whether `m` is a log line (not an error). */
export function isLogLine(m: LogMessage): m is LogLine {
  return 'line' in m && typeof m.line === 'string'
}

export interface StreamHandle {
  close(): void
}

/**
 * Subscribes to `topics` on `/api/v1/ws/<kind>`; calls `onMessage` with each message and
 * reconnects (0.5 s doubling to 10 s) when the socket drops.
 */
export function stream<K extends StreamKind>(
  kind: K,
  topics: string[],
  onMessage: (msg: StreamMessages[K]) => void,
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
        const msg: unknown = JSON.parse(String(ev.data))
        // The gateway's messages are JSON objects of the shapes above.
        if (isRecord(msg)) onMessage(msg as unknown as StreamMessages[K])
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
