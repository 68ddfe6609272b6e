// The fetch-and-poll and stream subscriptions the pages share.

import { useCallback, useEffect, useRef, useState } from 'react'
import { call, stream, type Answer, type CallArgs, type GetRoute, type StreamKind, type StreamMessages } from './api'

export interface UseApiOptions<K extends GetRoute> {
  /** Fetch again every `intervalMs` ms (no polling when absent or 0). */
  intervalMs?: number
  /**
   * The arguments actually fetched with, made from the arguments given at each fetch (e.g. to
   * add the current time to a range): the arguments given stay the key that decides when to
   * start over.
   */
  fresh?: (args: CallArgs<K>) => CallArgs<K>
}

export interface ApiState<T> {
  /** The latest answer for the current request (`null` until it comes, or with `null` arguments). */
  data: T | null
  /** The message of the latest failure for the current request; '' after a success. */
  error: string
  /** Fetches the current request again now. */
  reload: () => Promise<void>
}

interface Loaded<T> {
  key: string | null
  data: T | null
  error: string
}

/**
 * `call(route, args)` for a GET route (`{}` where the route takes nothing; nothing fetched while
 * `args` is null), again every `opts.intervalMs`. New arguments (or a new route) start over (the
 * data is `null` until they load); answers that arrive after an unmount or a change of arguments
 * are dropped.
 */
export function useApi<K extends GetRoute>(
  route: K,
  args: CallArgs<K> | null,
  opts: UseApiOptions<K> = {},
): ApiState<Answer<K>> {
  const { intervalMs } = opts
  // The request's identity: the route and its arguments as JSON (new objects each render are
  // the same request while their JSON is).
  const key = args === null ? null : `${route} ${JSON.stringify(args)}`
  const [state, setState] = useState<Loaded<Answer<K>>>({ key, data: null, error: '' })
  const latest = useRef({ args, fresh: opts.fresh })
  useEffect(() => {
    latest.current = { args, fresh: opts.fresh }
  })
  const load = useRef<() => Promise<void>>(() => Promise.resolve())
  useEffect(() => {
    if (key === null) {
      load.current = () => Promise.resolve()
      return
    }
    let current = true
    const run = async () => {
      const { args: given, fresh } = latest.current
      if (given === null) return
      try {
        const data = await call(route, fresh ? fresh(given) : given)
        if (current) setState({ key, data, error: '' })
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e)
        if (current) setState((s) => ({ key, data: s.key === key ? s.data : null, error }))
      }
    }
    load.current = run
    void run()
    const timer = intervalMs ? setInterval(run, intervalMs) : undefined
    return () => {
      current = false
      if (timer !== undefined) clearInterval(timer)
    }
  }, [route, key, intervalMs])
  const reload = useCallback(() => load.current(), [])
  const mine = state.key === key
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
