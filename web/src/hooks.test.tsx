import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, renderHook, waitFor } from '@testing-library/react'
import { useApi, useStream } from './hooks'
import type { MetricsMessage } from './api'
import { FakeSocket } from './fakeSocket'

afterEach(cleanup)

function answer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

describe('useApi', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    vi.useRealTimers()
  })

  it('fetches the route, polls it, starts over on new arguments and fetches nothing with null', async () => {
    const fetch = vi.fn(async (path: string) => answer({ path }))
    vi.stubGlobal('fetch', fetch)
    vi.useFakeTimers({ shouldAdvanceTime: true })
    const { result, rerender } = renderHook(
      ({ id }) => useApi('GET /api/v1/bots/{bot_id}', id === null ? null : { params: { bot_id: id } }, { intervalMs: 1_000 }),
      { initialProps: { id: 'a' as string | null } },
    )
    expect(result.current.data).toBeNull()
    await waitFor(() => expect(result.current.data).toEqual({ path: '/api/v1/bots/a' }))
    const calls = fetch.mock.calls.length
    await act(() => vi.advanceTimersByTimeAsync(1_000))
    expect(fetch.mock.calls.length).toBeGreaterThan(calls)
    rerender({ id: 'b/c' })
    expect(result.current.data).toBeNull()
    await waitFor(() => expect(result.current.data).toEqual({ path: '/api/v1/bots/b%2Fc' }))
    rerender({ id: null })
    expect(result.current.data).toBeNull()
    const after = fetch.mock.calls.length
    await act(() => vi.advanceTimersByTimeAsync(3_000))
    expect(fetch.mock.calls.length).toBe(after)
  })

  it('fetches with the fresh arguments but keeps the given ones as the key', async () => {
    const fetch = vi.fn(async (path: string) => answer({ path }))
    vi.stubGlobal('fetch', fetch)
    vi.useFakeTimers({ shouldAdvanceTime: true })
    let to = 100
    const { result, rerender } = renderHook(
      ({ step }) =>
        useApi(
          'GET /api/v1/latency',
          { query: { scope: 'bot:x', step_ms: step } },
          { intervalMs: 1_000, fresh: (args) => ({ ...args, query: { ...args.query, from: to - 10, to } }) },
        ),
      { initialProps: { step: 1_000 } },
    )
    await waitFor(() => expect(result.current.data).toEqual({ path: '/api/v1/latency?scope=bot%3Ax&step_ms=1000&from=90&to=100' }))
    to = 200
    await act(() => vi.advanceTimersByTimeAsync(1_000))
    expect(result.current.data).toEqual({ path: '/api/v1/latency?scope=bot%3Ax&step_ms=1000&from=190&to=200' })
    // New objects of the same arguments at each render are the same request: no new fetch.
    const calls = fetch.mock.calls.length
    rerender({ step: 1_000 })
    expect(fetch.mock.calls.length).toBe(calls)
    expect(result.current.data).not.toBeNull()
  })

  it('keeps the error message until a success, and reloads on demand', async () => {
    let fail = true
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => (fail ? answer({ error: { code: 'not_found', message: 'no bot x', details: null } }, 404) : answer({ nodes: [] }))),
    )
    const { result } = renderHook(() => useApi('GET /api/v1/nodes', {}))
    await waitFor(() => expect(result.current.error).toBe('no bot x'))
    expect(result.current.data).toBeNull()
    fail = false
    await act(() => result.current.reload())
    expect(result.current).toMatchObject({ data: { nodes: [] }, error: '' })
  })
})

describe('useStream', () => {
  beforeEach(() => {
    FakeSocket.all = []
    vi.stubGlobal('WebSocket', FakeSocket)
  })
  afterEach(() => vi.unstubAllGlobals())

  it('subscribes, reports the connection, delivers to the latest callback without reconnecting, and closes on unmount', () => {
    const got: string[] = []
    const { result, rerender, unmount } = renderHook(
      ({ tag }) =>
        useStream('metrics', ['fleet'], (m: MetricsMessage) => {
          if ('topic' in m) got.push(`${tag}:${m.topic}`)
        }),
      { initialProps: { tag: 'first' } },
    )
    expect(FakeSocket.all.length).toBe(1)
    const s = FakeSocket.all[0]
    expect(s.url).toContain('/api/v1/ws/metrics')
    expect(result.current).toBe(false)
    act(() => s.onopen?.())
    expect(result.current).toBe(true)
    expect(JSON.parse(s.sent[0])).toEqual({ subscribe: ['fleet'] })
    rerender({ tag: 'second' })
    expect(FakeSocket.all.length).toBe(1)
    act(() => s.onmessage?.({ data: JSON.stringify({ topic: 'fleet', at: 1, data: {} }) }))
    expect(got).toEqual(['second:fleet'])
    unmount()
    expect(s.closed).toBe(true)
  })

  it('does not connect without topics', () => {
    renderHook(() => useStream('logs', null, () => {}))
    renderHook(() => useStream('logs', [], () => {}))
    expect(FakeSocket.all.length).toBe(0)
  })
})
