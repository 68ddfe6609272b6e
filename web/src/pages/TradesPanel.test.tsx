import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, waitFor } from '@testing-library/react'
import type { TradeRow } from '../generated/api'
import { shownTrade, tradesCsv, TradesPanel } from './TradesPanel'
import { fillMarks, routeTokens } from './Market'
import { Chart } from '../components/Chart'

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

function trade(seq: number, pnl_usd: number, failed = false, extra: Partial<TradeRow> = {}): TradeRow {
  return {
    bot_id: 'arb',
    seq,
    environment: 'dev',
    node_id: 'n1',
    at_ms: 1_800_000_000_000 + seq * 1000,
    token: 'SOL',
    cycle: 2,
    amount_in: 1.5,
    amount_out: failed ? null : 1.5 + pnl_usd / 100,
    expected_out: 1.52,
    pnl: pnl_usd / 100,
    pnl_usd,
    slot: 7,
    latency_us: 90,
    fee: 0,
    fee_usd: 0,
    volume_usd: 150,
    route: 'SOL>USDC>SOL via raydium_v4,whirlpool',
    signature: null,
    ...extra,
  }
}

function answer(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
}

describe('trades', () => {
  it('filter by outcome and by text in the route, token, node or signature', () => {
    const [win, loss, failed] = [trade(1, 2), trade(2, -1), trade(3, 0, true)]
    expect([win, loss, failed].filter((t) => shownTrade(t, 'wins', '')).map((t) => t.seq)).toEqual([1])
    expect([win, loss, failed].filter((t) => shownTrade(t, 'losses', '')).map((t) => t.seq)).toEqual([2])
    expect([win, loss, failed].filter((t) => shownTrade(t, 'failed', '')).map((t) => t.seq)).toEqual([3])
    expect(shownTrade(win, 'all', 'whirlpool')).toBe(true)
    expect(shownTrade(win, 'all', 'orca')).toBe(false)
  })

  it('download as CSV: quoted where needed, a formula never run by a spreadsheet', () => {
    const csv = tradesCsv([trade(1, 2), trade(2, -1, false, { route: '=HYPERLINK("x"),y', signature: 'abc' })])
    const lines = csv.trimEnd().split('\r\n')
    expect(lines[0]).toBe(
      'at,at_ms,bot_id,environment,node_id,seq,route,cycle,token,amount_in,amount_out,expected_out,fee,fee_usd,volume_usd,pnl,pnl_usd,slot,latency_us,signature',
    )
    expect(lines).toHaveLength(3)
    expect(lines[1]).toContain(',"arb","dev","n1",1,"SOL>USDC>SOL via raydium_v4,whirlpool",2,"SOL",1.5,')
    expect(lines[2]).toContain(`,"'=HYPERLINK(""x""),y",`)
    expect(lines[2]).toContain(',-1,')
    expect(lines[2].endsWith(',"abc"')).toBe(true)
  })

  it('the panel lists a page, filters it and loads older trades after the cursor', async () => {
    const fetch = vi.fn(async (path: string) => {
      const url = new URL(path, 'http://x')
      if (url.pathname === '/api/v1/pnl')
        return answer({
          scope: url.searchParams.get('scope'),
          from: 0,
          to: 1,
          step_ms: 1,
          totals: { pnl_usd: 1, fee_usd: 0, volume_usd: 450, trades: 3, wins: 1, losses: 1, failed: 1, win_rate: 1 / 3, drawdown_usd: 1 },
          intervals: [],
        })
      if (url.searchParams.get('cursor') === 'c1') return answer({ trades: [trade(1, 0.5)], next_cursor: null })
      return answer({ trades: [trade(4, 2), trade(3, -1), trade(2, 0, true)], next_cursor: 'c1' })
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(<TradesPanel botId="arb" />)
    await waitFor(() => expect(r.getByTestId('trades-count').textContent).toBe('3 of 3 loaded'))
    const first = fetch.mock.calls.map(([p]) => String(p)).find((p) => p.startsWith('/api/v1/trades'))
    expect(first).toMatch(/bot=arb/)
    expect(first).toMatch(/from=\d+/)
    await waitFor(() => expect(r.getByTestId('pnl-totals').textContent).toContain('win rate 33.3 %'))
    fireEvent.change(r.getByLabelText('outcome'), { target: { value: 'failed' } })
    expect(r.getByTestId('trades-count').textContent).toBe('1 of 3 loaded')
    expect(r.getByTestId('trades').querySelectorAll('tbody tr[data-outcome="failed"]')).toHaveLength(1)
    fireEvent.change(r.getByLabelText('outcome'), { target: { value: 'all' } })
    fireEvent.click(r.getByTestId('trades-more'))
    await waitFor(() => expect(r.getByTestId('trades-count').textContent).toBe('4 of 4 loaded'))
    expect(fetch.mock.calls.some(([p]) => String(p).includes('cursor=c1'))).toBe(true)
    expect(r.queryByTestId('trades-more')).toBeNull()
    // Standing still while older pages are shown; back to live on demand.
    const calls = fetch.mock.calls.length
    fireEvent.click(r.getByTestId('trades-live'))
    await waitFor(() => expect(r.getByTestId('trades-count').textContent).toBe('3 of 3 loaded'))
    expect(fetch.mock.calls.length).toBeGreaterThan(calls)
  })
})

describe('fill marks', () => {
  it('mark the fills whose route passes through both tokens of the pair, on the line', () => {
    expect(routeTokens('SOL>USDC>BONK>SOL via a,b,c')).toEqual(['SOL', 'USDC', 'BONK', 'SOL'])
    const trades = [trade(1, 2), trade(2, -1), trade(3, 0, true), trade(4, 1, false, { route: 'SOL>BONK>SOL via a,b' })]
    const marks = fillMarks('SOL/USDC', trades)
    expect(marks.map((m) => m.color)).toEqual(['#3fb950', '#f85149', '#8b949e'])
    const t0 = 1_800_000_000_000
    const r = render(
      <Chart
        label="price"
        testId="m"
        series={[{ name: 'mid', color: '#fff', points: [[t0, 100], [t0 + 2_500, 101]] }]}
        marks={marks}
      />,
    )
    // Fills at +1 s and +2 s are within the line's span; the one at +3 s is not.
    expect(r.getByTestId('m').getAttribute('data-marks')).toBe('2')
    expect(r.getByTestId('m').querySelectorAll('circle.mark title')[0].textContent).toBe('arb #1 SOL>USDC>SOL via raydium_v4,whirlpool: 2.00 USD')
  })
})
