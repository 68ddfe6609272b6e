import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, waitFor } from '@testing-library/react'
import { Alerts } from './Alerts'

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

function answer(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
}

describe('the rule form', () => {
  it('PUTs the rule as kind, webhook and the kind parameters, numbers parsed and empty optional ones left out', async () => {
    const fetch = vi.fn(async (path: string, init: RequestInit) => {
      if (init.method === 'PUT') return answer({ rule_id: 'r 1', kind: 'p99_above', stage: 'decided', budget_ns: 5000, webhook: '' })
      return answer(path === '/api/v1/alerts' ? { alerts: [] } : { rules: [] })
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(<Alerts role="admin" />)
    fireEvent.change(r.getByLabelText('Rule id'), { target: { value: 'r 1' } })
    fireEvent.change(r.getByLabelText('Kind'), { target: { value: 'p99_above' } })
    fireEvent.change(r.getByLabelText(/^stage/), { target: { value: ' decided ' } })
    fireEvent.change(r.getByLabelText(/^budget_ns/), { target: { value: '5000' } })
    fireEvent.change(r.getByLabelText(/^Scope/), { target: { value: 'env:prod' } })
    fireEvent.click(r.getByRole('button', { name: 'Save rule' }))
    await r.findByText('rule r 1 saved')
    const put = fetch.mock.calls.find(([, init]) => init.method === 'PUT')
    expect(put?.[0]).toBe('/api/v1/alerts/rules/r%201')
    expect(put?.[1].body).toBe('{"kind":"p99_above","webhook":"","stage":"decided","budget_ns":5000,"scope":"env:prod","format":"generic"}')
    await waitFor(() => expect(fetch.mock.calls.filter(([p]) => p === '/api/v1/alerts/rules').length).toBeGreaterThan(1))
  })

  it('PUTs a trade rule with its filters, and a Telegram format with its chat', async () => {
    const fetch = vi.fn(async (path: string, init: RequestInit) => {
      if (init.method === 'PUT') return answer({ rule_id: 'fails', kind: 'trade', webhook: '' })
      return answer(path === '/api/v1/alerts' ? { alerts: [] } : { rules: [] })
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(<Alerts role="admin" />)
    fireEvent.change(r.getByLabelText('Rule id'), { target: { value: 'fails' } })
    fireEvent.change(r.getByLabelText('Kind'), { target: { value: 'trade' } })
    fireEvent.change(r.getByLabelText(/^min_abs_pnl_usd/), { target: { value: '2.5' } })
    fireEvent.change(r.getByLabelText(/^failures_only/), { target: { value: 'true' } })
    fireEvent.change(r.getByLabelText(/^Webhook/), { target: { value: 'https://api.telegram.org/bot1:x/sendMessage' } })
    fireEvent.change(r.getByTestId('rule-format'), { target: { value: 'telegram' } })
    fireEvent.change(r.getByLabelText(/^Chat id/), { target: { value: ' -100123 ' } })
    fireEvent.click(r.getByRole('button', { name: 'Save rule' }))
    await r.findByText('rule fails saved')
    const put = fetch.mock.calls.find(([, init]) => init.method === 'PUT')
    expect(JSON.parse(String(put?.[1].body))).toEqual({
      kind: 'trade',
      webhook: 'https://api.telegram.org/bot1:x/sendMessage',
      min_abs_pnl_usd: 2.5,
      failures_only: true,
      scope: 'fleet',
      format: 'telegram',
      chat_id: '-100123',
    })
  })
})
