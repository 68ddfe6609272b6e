import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, waitFor } from '@testing-library/react'
import type { BacktestRow } from '../generated/api'
import { Backtests, fmtBytes, fmtDate, resultLine } from './Backtests'

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

function answer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

function row(extra: Partial<BacktestRow>): BacktestRow {
  return {
    backtest_id: 'bt-0123456789abcdef',
    node_id: 'n1',
    environment: 'dev',
    state: 'done',
    request: { id: 'bt-0123456789abcdef', config: { bot_id: 'arb' }, recording: 'm.sfrec' },
    report: { bot_id: 'arb', trades: 6, wins: 5, losses: 1, failed: 0, win_rate: 5 / 6, pnl_usd: 425.51, max_drawdown_usd: 2, rejected: { concurrency: 3 }, routes: [] },
    timing: null,
    error: null,
    created_by: 'olga',
    created_at: 1_800_000_000_000,
    updated_at: 1_800_000_000_000,
    ...extra,
  }
}

describe('backtests', () => {
  it('show sizes and times a node sends, whatever they are', () => {
    expect([0, 999, 1000, 999_949, 999_950, 8_812_345, 2 ** 53 - 1].map(fmtBytes)).toEqual(['0 B', '999 B', '1.0 KB', '999.9 KB', '1.0 MB', '8.8 MB', '9007.2 TB'])
    expect(fmtDate(0)).toBe('1970-01-01 00:00 UTC')
    expect(fmtDate(8.64e15 + 1)).toBe('—')
    expect(fmtDate(Number.MAX_SAFE_INTEGER)).toBe('—')
  })

  it('sum a run, a sweep and a failure up in one line', () => {
    expect(resultLine(row({}))).toBe('$425.51 over 6 trades · win rate 83.3 % · max drawdown $2.00')
    expect(
      resultLine(
        row({
          report: [
            { dir: '01', params: { 'trading.min_profit_bps': 10 }, trades: 1, win_rate: 1, pnl_usd: 1, max_drawdown_usd: 0 },
            { dir: '02', params: { 'trading.min_profit_bps': 20 }, trades: 1, win_rate: 1, pnl_usd: 3, max_drawdown_usd: 0 },
          ],
        }),
      ),
    ).toBe('2 runs; best $3.00 (trading.min_profit_bps=20)')
    expect(resultLine(row({ state: 'failed', report: null, error: 'recording gone.sfrec: no such file' }))).toBe('recording gone.sfrec: no such file')
  })

  it('queue one with the chosen bot’s configuration, and list it', async () => {
    const fetch = vi.fn(async (path: string, init: RequestInit) => {
      if (path === '/api/v1/backtests' && init.method === 'POST') return answer({ ...row({ state: 'queued', report: null }) }, 202)
      if (path.startsWith('/api/v1/backtests')) return answer({ backtests: [row({})] })
      if (path === '/api/v1/bots')
        return answer({ bots: [{ bot_id: 'obs', bot_type: 'ml_analytics', replica_of: null }, { bot_id: 'arb', bot_type: 'triangular_arbitrage', replica_of: null }] })
      if (path === '/api/v1/bots/arb') return answer({ bot: {}, config: { body: { bot_id: 'arb', bot_type: 'triangular_arbitrage' } } })
      if (path === '/api/v1/nodes')
        return answer({ nodes: [{ node_id: 'n1', last_heartbeat: Date.now(), recordings: [{ name: 'm.sfrec', bytes: 8_812_345, modified_ms: Date.UTC(2026, 11, 6, 11, 0) }, { name: 'old.sfrec', bytes: 512, modified_ms: 0 }] }] })
      return answer({})
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(<Backtests role="operator" />)
    await waitFor(() => expect(r.getByTestId('backtests').textContent).toContain('$425.51 over 6 trades'))
    await waitFor(() => expect(r.getByLabelText('backtest bot').textContent).toBe('arb'))
    // The node's recordings, newest first as it lists them: one click names it.
    const held = await r.findByRole('list', { name: 'recordings on n1' })
    expect(held.textContent).toBe('m.sfrec · 8.8 MB · 2026-12-06 11:00 UTCold.sfrec · 512 B · 1970-01-01 00:00 UTC')
    fireEvent.click(r.getByRole('button', { name: /^old\.sfrec/ }))
    expect((r.getByLabelText('recording') as HTMLInputElement).value).toBe('old.sfrec')
    expect(r.getByRole('button', { name: /^old\.sfrec/ }).getAttribute('aria-pressed')).toBe('true')
    fireEvent.change(r.getByLabelText('recording'), { target: { value: ' m.sfrec ' } })
    fireEvent.change(r.getByLabelText('latency'), { target: { value: '0' } })
    fireEvent.change(r.getByLabelText('sweep'), { target: { value: 'trading.min_profit_bps=1,20\n\n' } })
    fireEvent.click(r.getByRole('button', { name: 'Queue' }))
    await r.findByText('queued bt-0123456789abcdef on n1')
    const post = fetch.mock.calls.find(([p, init]) => p === '/api/v1/backtests' && init.method === 'POST')
    expect(JSON.parse(String(post?.[1].body))).toEqual({
      node_id: 'n1',
      recording: 'm.sfrec',
      config: { bot_id: 'arb', bot_type: 'triangular_arbitrage' },
      latency_us: 0,
      sweep: ['trading.min_profit_bps=1,20'],
    })
  })

  it('show a report: its numbers, its chart as an image and its Markdown', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => answer(row({ report_md: '# Backtest: arb', pnl_svg: '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>' }))),
    )
    const r = render(<Backtests role="viewer" id="bt-0123456789abcdef" />)
    await waitFor(() => expect(r.getByTestId('backtest-result').textContent).toContain('concurrency 3'))
    const img = r.getByTestId('backtest-svg') as HTMLImageElement
    expect(img.tagName).toBe('IMG')
    expect(img.src.startsWith('data:image/svg+xml')).toBe(true)
    expect(r.container.querySelector('script')).toBeNull()
    expect(r.getByTestId('backtest-md').textContent).toBe('# Backtest: arb')
  })

  it('a malformed report from a node shows what it can and never breaks the page', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (path: string) =>
        path.startsWith('/api/v1/backtests/')
          ? answer(row({ report: { trades: 'x', routes: 'nope', halted: { a: 1 }, rejected: { g: 'n', concurrency: 2 } } }))
          : answer({ backtests: [row({ report: [1, { params: null, pnl_usd: 'x' }] })] }),
      ),
    )
    const list = render(<Backtests role="viewer" />)
    await waitFor(() => expect(list.getByTestId('backtests').textContent).toContain('1 run; best'))
    cleanup()
    const r = render(<Backtests role="viewer" id="bt-0123456789abcdef" />)
    await waitFor(() => expect(r.getByTestId('backtest-result').textContent).toContain('concurrency 2'))
    expect(r.getByTestId('backtest-result').textContent).not.toContain('halted')
  })
})
