import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, renderHook, waitFor } from '@testing-library/react'
import { useApi, useStream } from './hooks'
import type { MetricsMessage } from './api'

afterEach(cleanup)

function answer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

describe('useApi', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    vi.useRealTimers()
  })

  it('fetches the path, polls it and starts over on a new path', async () => {
    const fetch = vi.fn(async (path: string) => answer({ path }))
    vi.stubGlobal('fetch', fetch)
    vi.useFakeTimers({ shouldAdvanceTime: true })
    const { result, rerender } = renderHook(({ path }) => useApi<{ path: string }>(path, { intervalMs: 1_000 }), {
      initialProps: { path: '/a' as string | null },
    })
    expect(result.current.data).toBeNull()
    await waitFor(() => expect(result.current.data).toEqual({ path: '/a' }))
    const calls = fetch.mock.calls.length
    await act(() => vi.advanceTimersByTimeAsync(1_000))
    expect(fetch.mock.calls.length).toBeGreaterThan(calls)
    rerender({ path: '/b' })
    expect(result.current.data).toBeNull()
    await waitFor(() => expect(result.current.data).toEqual({ path: '/b' }))
    rerender({ path: null })
    expect(result.current.data).toBeNull()
    const after = fetch.mock.calls.length
    await act(() => vi.advanceTimersByTimeAsync(3_000))
    expect(fetch.mock.calls.length).toBe(after)
  })

  it('keeps the error message until a success, and reloads on demand', async () => {
    let fail = true
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => (fail ? answer({ error: { code: 'not_found', message: 'no bot x', details: null } }, 404) : answer({ ok: 1 }))),
    )
    const { result } = renderHook(() => useApi<{ ok: number }>('/x'))
    await waitFor(() => expect(result.current.error).toBe('no bot x'))
    expect(result.current.data).toBeNull()
    fail = false
    await act(() => result.current.reload())
    expect(result.current).toMatchObject({ data: { ok: 1 }, error: '' })
  })
})

/** A WebSocket stand-in: records what is sent and lets the test deliver messages. */
class FakeSocket {
  static all: FakeSocket[] = []
  onopen: (() => void) | null = null
  onmessage: ((ev: { data: string }) => void) | null = null
  onclose: (() => void) | null = null
  sent: string[] = []
  closed = false
  constructor(public url: string) {
    FakeSocket.all.push(this)
  }
  send(s: string) {
    this.sent.push(s)
  }
  close() {
    this.closed = true
    this.onclose?.()
  }
}

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
