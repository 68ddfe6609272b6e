import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, render, waitFor } from '@testing-library/react'
import { Fleet } from './Fleet'
import { setEnv } from '../env'
import type { FleetBotRow } from '../generated/api'
import { FakeSocket } from '../fakeSocket'

function answer(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
}

function row(bot_id: string, environment: FleetBotRow['environment']): FleetBotRow {
  return {
    bot_id,
    bot_type: 'enhanced_arbitrage',
    environment,
    cores: [],
    pending: null,
    replica_of: null,
    node_id: 'n1',
    desired_state: 'running',
    config_version: 1,
    status: null,
    reported_at: null,
    trades_executed: 3,
    profit_usd: environment === 'prod' ? 10 : 1,
    latency_ns: {},
  }
}

beforeEach(() => {
  FakeSocket.all = []
  vi.stubGlobal('WebSocket', FakeSocket)
  localStorage.clear()
})

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
  setEnv(null)
})

describe('the fleet page', () => {
  it('shows every bot with its environment, and one environment when the switcher names it', async () => {
    const fetch = vi.fn(async (path: string) => {
      if (path.startsWith('/api/v1/system/metrics'))
        return answer({ bots: 1, bots_by_desired_state: {}, nodes: 1, desired_index: 1, latency_ns: { decided: { count: 1, p50: 2000, p90: 2000, p99: 3000, p999: 3000, max: 3000 } } })
      return answer({ nodes: [] })
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(<Fleet role="viewer" />)
    const s = FakeSocket.all[0]
    act(() => s.onopen?.())
    const data = { bots: 2, running: 2, nodes: 1, latency_ns: {}, bot_rows: [row('d-1', 'dev'), row('p-1', 'prod')] }
    act(() => s.onmessage?.({ data: JSON.stringify({ topic: 'fleet', at: 1, data }) }))
    expect(r.getAllByTestId('env').map((e) => e.textContent)).toEqual(['dev', 'prod'])
    act(() => setEnv('prod'))
    expect(r.getAllByTestId('env').map((e) => e.textContent)).toEqual(['prod'])
    await waitFor(() => expect(fetch.mock.calls.some(([p]) => p === '/api/v1/nodes?env=prod')).toBe(true))
    await waitFor(() => expect(fetch.mock.calls.some(([p]) => p === '/api/v1/system/metrics?env=prod')).toBe(true))
    await r.findByText('prod p50 (decided)')
    // The PnL tile sums the prod bot only (its row shows the same figure).
    expect(r.getAllByText('$10.00')).toHaveLength(2)
  })
})
