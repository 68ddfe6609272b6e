import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, fireEvent, render, waitFor } from '@testing-library/react'
import { Rollouts } from './Rollouts'
import type { Rollout } from '../generated/api'
import { FakeSocket } from '../fakeSocket'

function answer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

const paused: Rollout = {
  rollout_id: 'r-1',
  target: 'restart',
  scope: 'fleet',
  max_unavailable: 1,
  pause_on_failure: true,
  state: 'paused',
  reason: 'stopped at the first failed step: bot a-1 on node n1: handover rolled back',
  created_by: 'ops',
  created_at: 1,
  updated_at: 2,
  steps: [
    { kind: 'bot', node_id: 'n1', bot_id: 'a-1', state: 'failed', message: 'handover rolled back' },
    { kind: 'bot', node_id: 'n2', bot_id: 'b-1', state: 'pending' },
  ],
}

beforeEach(() => {
  FakeSocket.all = []
  vi.stubGlobal('WebSocket', FakeSocket)
})

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

describe('the rollouts page', () => {
  it('shows each step, follows the rollouts topic, and resumes or aborts a paused rollout', async () => {
    const fetch = vi.fn(async (path: string, init: RequestInit) => {
      if (init.method === 'POST' && path === '/api/v1/rollouts/r-1/resume') return answer({ ...paused, state: 'running' })
      return answer({ rollouts: [paused] })
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(<Rollouts role="operator" />)
    await r.findByText(/stopped at the first failed step/)
    expect(r.getByTestId('rollout-progress').textContent).toBe('1/2 steps')
    expect(r.getAllByTestId('step-state').map((e) => e.textContent)).toEqual(['failed', 'pending'])
    fireEvent.click(r.getByRole('button', { name: 'Resume' }))
    await waitFor(() => expect(fetch.mock.calls.some(([p, i]) => p === '/api/v1/rollouts/r-1/resume' && i.method === 'POST')).toBe(true))
    // The topic's list replaces what was fetched.
    const s = FakeSocket.all[0]
    act(() => s.onopen?.())
    expect(JSON.parse(s.sent[0])).toEqual({ subscribe: ['rollouts'] })
    const done: Rollout = { ...paused, state: 'completed', reason: null, steps: paused.steps.map((x) => ({ ...x, state: 'done' })) }
    act(() => s.onmessage?.({ data: JSON.stringify({ topic: 'rollouts', at: 3, data: { rollouts: [done] } }) }))
    expect(r.getByTestId('rollout-state').textContent).toBe('completed')
    expect(r.queryByRole('button', { name: 'Abort' })).toBeNull()
  })

  it('starts a rollout with the form and hides the actions from a viewer', async () => {
    const fetch = vi.fn(async (_path: string, init: RequestInit) => {
      if (init.method === 'POST') return answer({ ...paused, rollout_id: 'r-2', state: 'running' }, 201)
      return answer({ rollouts: [paused] })
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(<Rollouts role="operator" />)
    fireEvent.change(r.getByLabelText('Target'), { target: { value: '0.2.0' } })
    fireEvent.change(r.getByLabelText('Scope'), { target: { value: 'node:n2' } })
    fireEvent.click(r.getByRole('button', { name: 'Start' }))
    await r.findByText('rollout r-2 started over 2 step(s)')
    const post = fetch.mock.calls.find(([p, i]) => p === '/api/v1/rollouts' && i.method === 'POST')
    expect(JSON.parse(String(post?.[1].body))).toEqual({ target: '0.2.0', scope: 'node:n2', max_unavailable: 1, pause_on_failure: true })
    cleanup()
    const v = render(<Rollouts role="viewer" />)
    await v.findByText(/stopped at the first failed step/)
    expect(v.queryByRole('button', { name: 'Resume' })).toBeNull()
    expect(v.queryByText('Start a rollout')).toBeNull()
  })
})
