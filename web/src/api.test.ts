import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError, call, setToken } from './api'

function answer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

describe('call', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    setToken(null)
  })

  it('fills the path template, appends the query in order without undefined values, and sends the body and headers', async () => {
    const fetch = vi.fn(async (_path: string, _init: RequestInit) => answer({ ok: true }))
    vi.stubGlobal('fetch', fetch)
    setToken('t0k')
    await call('GET /api/v1/system/logs/{bot_id}', { params: { bot_id: 'a b/c' }, query: { tail: 200, filter: undefined } })
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/system/logs/a%20b%2Fc?tail=200')
    expect(fetch.mock.calls[0][1]).toMatchObject({ method: 'GET', body: undefined, headers: { authorization: 'Bearer t0k' } })
    await call('POST /api/v1/bots/{bot_id}/{action}', { params: { bot_id: 'x', action: 'start' } })
    expect(fetch.mock.calls[1][0]).toBe('/api/v1/bots/x/start')
    expect(fetch.mock.calls[1][1].method).toBe('POST')
    await call('PUT /api/v1/alerts/rules/{rule_id}', {
      params: { rule_id: 'r1' },
      body: { kind: 'bot_down', webhook: '', after_s: 30 },
      headers: { 'if-match': '3' },
    })
    expect(fetch.mock.calls[2][0]).toBe('/api/v1/alerts/rules/r1')
    expect(fetch.mock.calls[2][1]).toMatchObject({
      method: 'PUT',
      headers: { 'if-match': '3', 'content-type': 'application/json', authorization: 'Bearer t0k' },
      body: '{"kind":"bot_down","webhook":"","after_s":30}',
    })
    await call('GET /api/v1/nodes')
    expect(fetch.mock.calls[3][0]).toBe('/api/v1/nodes')
  })

  it('refuses a missing path parameter and answers an error answer as an ApiError', async () => {
    const fetch = vi.fn(async () => answer({ error: { code: 'not_found', message: 'no bot x', details: null } }, 404))
    vi.stubGlobal('fetch', fetch)
    // The types refuse a call without `bot_id`: the cast is the test's way past them.
    await expect(call('GET /api/v1/bots/{bot_id}', { params: {} as { bot_id: string } })).rejects.toThrow('no value for {bot_id}')
    expect(fetch).not.toHaveBeenCalled()
    const err = await call('GET /api/v1/bots/{bot_id}', { params: { bot_id: 'x' } }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 404, code: 'not_found', message: 'no bot x' })
  })
})
