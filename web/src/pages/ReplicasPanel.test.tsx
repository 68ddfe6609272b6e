import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, waitFor } from '@testing-library/react'
import { ReplicasPanel } from './ReplicasPanel'
import type { BotRow } from '../generated/api'

function answer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

function bot(bot_id: string, bot_type: string, over: Partial<BotRow> = {}): BotRow {
  return {
    bot_id,
    bot_type,
    environment: 'dev',
    node_id: 'n1',
    placement: { auto: true, labels: {}, cores: 0, failover: true, failover_set: false, replicas: 1 },
    cores: [],
    pending: null,
    replica_of: null,
    desired_state: 'running',
    config_version: 1,
    restarts: 0,
    created_at: 1,
    updated_at: 1,
    ...over,
  }
}

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

describe('the replicas panel', () => {
  it('lists an observer bot’s replicas and changes their count, showing a refusal', async () => {
    const ml = bot('ml', 'ml_analytics', { placement: { ...bot('x', 'x').placement, replicas: 2 } })
    const r1 = bot('ml-r1', 'ml_analytics', { replica_of: 'ml', node_id: 'n2' })
    let refuse = false
    const fetch = vi.fn(async (path: string, init: RequestInit) => {
      if (init.method === 'PUT') {
        if (refuse) return answer({ error: { code: 'exists', message: 'bot ml-r3 exists, a bot of its own: bot ml cannot take its id for a replica' } }, 409)
        return answer({ bot_id: 'ml', replicas: 3, added: ['ml-r2'], removed: [], instances: [] })
      }
      expect(path).toBe('/api/v1/bots')
      return answer({ bots: [ml, r1, bot('other-r1', 'ml_analytics')] })
    })
    vi.stubGlobal('fetch', fetch)
    const changed = vi.fn()
    const r = render(<ReplicasPanel bot={ml} role="operator" onChanged={changed} />)
    await r.findByText('ml-r1')
    expect(r.getByTestId('replicas').textContent).toContain('2 instance(s), each on another node: this bot and 1 replica(s)')
    expect(r.queryByText('other-r1')).toBeNull()
    fireEvent.change(r.getByTestId('replicas-count'), { target: { value: '3' } })
    fireEvent.click(r.getByRole('button', { name: 'Apply' }))
    await r.findByText('3 instance(s): added ml-r2')
    const put = fetch.mock.calls.find(([, i]) => i.method === 'PUT')
    expect(put?.[0]).toBe('/api/v1/bots/ml/replicas')
    expect(JSON.parse(String(put?.[1].body))).toEqual({ replicas: 3 })
    await waitFor(() => expect(changed).toHaveBeenCalled())
    refuse = true
    fireEvent.change(r.getByTestId('replicas-count'), { target: { value: '4' } })
    fireEvent.click(r.getByRole('button', { name: 'Apply' }))
    expect((await r.findByRole('alert')).textContent).toContain('bot ml-r3 exists, a bot of its own')
  })

  it('names the bot a replica follows, and shows nothing for a trading bot or a viewer’s form', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => answer({ bots: [] })))
    const r = render(<ReplicasPanel bot={bot('ml-r1', 'ml_analytics', { replica_of: 'ml' })} role="operator" onChanged={() => {}} />)
    expect(r.getByTestId('replica-of').textContent).toContain('Replica of ml')
    cleanup()
    const t = render(<ReplicasPanel bot={bot('arb', 'enhanced_arbitrage')} role="operator" onChanged={() => {}} />)
    expect(t.container.textContent).toBe('')
    cleanup()
    const v = render(<ReplicasPanel bot={bot('dash', 'real_time_dashboard')} role="viewer" onChanged={() => {}} />)
    expect(v.getByTestId('replicas')).toBeTruthy()
    expect(v.queryByRole('button', { name: 'Apply' })).toBeNull()
  })
})
