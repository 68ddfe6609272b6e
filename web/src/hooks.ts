// The fetch-and-poll and stream subscriptions the pages share.

import { useCallback, useEffect, useRef, useState } from 'react'
import { api, stream, type StreamKind, type StreamMessages } from './api'

export interface UseApiOptions {
  /** Fetch again every `intervalMs` ms (no polling when absent or 0). */
  intervalMs?: number
  /**
   * The path actually fetched, made from `path` at each fetch (e.g. to add the current time to
   * a range): `path` stays the key that decides when to start over.
   */
  fresh?: (path: string) => string
}

export interface ApiState<T> {
  /** The latest answer for the current path (`null` until it comes, or with a `null` path). */
  data: T | null
  /** The message of the latest failure for the current path; '' after a success. */
  error: string
  /** Fetches the current path again now. */
  reload: () => Promise<void>
}

interface Loaded<T> {
  path: string | null
  data: T | null
  error: string
}

/**
 * `GET path` (nothing while `path` is null), again every `opts.intervalMs`. A new path starts
 * over (its data is `null` until it loads); answers that arrive after an unmount or a path
 * change are dropped.
 */
export function useApi<T>(path: string | null, opts: UseApiOptions = {}): ApiState<T> {
  const { intervalMs } = opts
  const [state, setState] = useState<Loaded<T>>({ path, data: null, error: '' })
  const fresh = useRef(opts.fresh)
  useEffect(() => {
    fresh.current = opts.fresh
  })
  const load = useRef<() => Promise<void>>(() => Promise.resolve())
  useEffect(() => {
    if (path === null) {
      load.current = () => Promise.resolve()
      return
    }
    let current = true
    const run = async () => {
      try {
        const data = await api<T>('GET', fresh.current ? fresh.current(path) : path)
        if (current) setState({ path, data, error: '' })
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e)
        if (current) setState((s) => ({ path, data: s.path === path ? s.data : null, error }))
      }
    }
    load.current = run
    void run()
    const timer = intervalMs ? setInterval(run, intervalMs) : undefined
    return () => {
      current = false
      if (timer !== undefined) clearInterval(timer)
    }
  }, [path, intervalMs])
  const reload = useCallback(() => load.current(), [])
  const mine = state.path === path
  return { data: mine ? state.data : null, error: mine ? state.error : '', reload }
}

/**
 * Subscribes to `topics` on the `kind` stream (nothing while `topics` is null or empty) and
 * answers whether the socket is connected. `onMessage` may be a new closure at each render:
 * only a change of `kind` or of the topics reconnects.
 */
export function useStream<K extends StreamKind>(
  kind: K,
  topics: readonly string[] | null,
  onMessage: (msg: StreamMessages[K]) => void,
): boolean {
  const [live, setLive] = useState(false)
  const handler = useRef(onMessage)
  useEffect(() => {
    handler.current = onMessage
  })
  const key = topics && topics.length ? JSON.stringify(topics) : null
  useEffect(() => {
    if (key === null) return
    let current = true
    const s = stream(
      kind,
      JSON.parse(key) as string[],
      (m) => {
        if (current) handler.current(m)
      },
      (connected) => {
        if (current) setLive(connected)
      },
    )
    return () => {
      current = false
      s.close()
      setLive(false)
    }
  }, [kind, key])
  return live
}
