import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, waitFor } from '@testing-library/react'
import { useState } from 'react'
import { ListInput, moved } from '../components/ListInput'
import { CONFIG_DRAG_TYPE, cloneOf, handToEditor, takeHandoff } from '../configImport'
import { ImportPanel } from './ImportPanel'
import { BotEditor } from './BotEditor'

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
  sessionStorage.clear()
})

function answer(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

/** A drag's DataTransfer as the browser hands it to handlers. */
function transfer(data: Record<string, string>, files: File[] = []) {
  return {
    types: [...Object.keys(data), ...(files.length ? ['Files'] : [])],
    files,
    getData: (t: string) => data[t] ?? '',
    setData: () => {},
    dropEffect: 'none',
    effectAllowed: 'all',
  }
}

function List({ initial, choices }: { initial: unknown[]; choices?: unknown[] }) {
  const [v, setV] = useState<unknown[]>(initial)
  return (
    <>
      <ListInput id="f-base_mints" value={v} onChange={setV} choices={choices} />
      <output data-testid="value">{JSON.stringify(v)}</output>
    </>
  )
}

describe('ordered list fields', () => {
  it('move an item anywhere', () => {
    expect(moved(['a', 'b', 'c'], 2, 0)).toEqual(['c', 'a', 'b'])
    expect(moved(['a', 'b', 'c'], 0, 5)).toEqual(['a', 'b', 'c'])
  })

  it('reorder by dragging a chip onto another, by its buttons and by Alt+arrows; add and remove', () => {
    const r = render(<List initial={['SOL', 'USDC', 'JTO']} />)
    const chip = (item: string) => r.container.querySelector(`[data-item="${item}"]`) as HTMLElement
    const dt = transfer({})
    fireEvent.dragStart(chip('JTO'), { dataTransfer: dt })
    fireEvent.dragOver(chip('SOL'), { dataTransfer: dt })
    fireEvent.drop(chip('SOL'), { dataTransfer: dt })
    expect(r.getByTestId('value').textContent).toBe('["JTO","SOL","USDC"]')
    fireEvent.click(r.getByLabelText('move JTO later'))
    expect(r.getByTestId('value').textContent).toBe('["SOL","JTO","USDC"]')
    fireEvent.keyDown(chip('USDC'), { key: 'ArrowLeft', altKey: true })
    expect(r.getByTestId('value').textContent).toBe('["SOL","USDC","JTO"]')
    fireEvent.keyDown(chip('USDC'), { key: 'ArrowLeft' })
    expect(r.getByTestId('value').textContent).toBe('["SOL","USDC","JTO"]')
    // The keyboard move keeps the moved chip focused.
    fireEvent.keyDown(chip('USDC'), { key: 'ArrowRight', altKey: true })
    expect(document.activeElement).toBe(chip('USDC'))
    expect(r.getByTestId('value').textContent).toBe('["SOL","JTO","USDC"]')
    fireEvent.click(r.getByLabelText('remove USDC'))
    const text = r.getByLabelText('base_mints as text') as HTMLInputElement
    fireEvent.change(text, { target: { value: 'SOL, JTO, BONK,' } })
    expect(text.value).toBe('SOL, JTO, BONK,')
    fireEvent.change(text, { target: { value: 'SOL, JTO, BONK, WIF' } })
    expect(r.getByTestId('value').textContent).toBe('["SOL","JTO","BONK","WIF"]')
  })

  it('a set of venues keeps its order and adds by checkbox', () => {
    const r = render(<List initial={['Raydium', 'Orca']} choices={['Jupiter', 'Orca', 'Raydium']} />)
    fireEvent.click(r.getByLabelText('move Orca earlier'))
    fireEvent.click(r.getByLabelText('Jupiter'))
    expect(r.getByTestId('value').textContent).toBe('["Orca","Raydium","Jupiter"]')
  })
})

describe('imports', () => {
  it('files dropped are checked and their errors shown at their fields before anything is saved', async () => {
    const fetch = vi.fn(async (path: string, init: RequestInit) => {
      const body = JSON.parse(String(init.body ?? '{}'))
      if (path === '/api/v1/configs/validate')
        return body.config.bot_id === 'bad'
          ? answer({ error: { code: 'invalid_config', message: '1 error(s) in the configuration', details: [{ path: 'trading.min_profit_bps', message: 'must be between 1 and 1000, got -5' }] } }, 400)
          : answer({ valid: true, bot_id: 'good', bot_type: 'triangular_arbitrage', environment: 'dev' })
      if (path === '/api/v1/bots') return answer({ bot: { bot_id: 'good' } }, 201)
      return answer({})
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(
      <ImportPanel canWrite>
        <p>fleet</p>
      </ImportPanel>,
    )
    const files = [
      new File([JSON.stringify({ bot_id: 'bad', bot_type: 'triangular_arbitrage' })], 'bad.json'),
      new File([JSON.stringify({ bot_id: 'good', bot_type: 'triangular_arbitrage' })], 'good.json'),
      new File(['{nope'], 'broken.json'),
    ]
    fireEvent.drop(r.getByTestId('fleet-drop'), { dataTransfer: transfer({}, files) })
    await waitFor(() => expect(r.getByTestId('import').querySelectorAll('.import-file')).toHaveLength(3))
    const bad = r.container.querySelector('[data-file="bad.json"]') as HTMLElement
    expect(bad.querySelector('[data-path="trading.min_profit_bps"]')?.textContent).toBe('trading.min_profit_bps: must be between 1 and 1000, got -5')
    expect((bad.querySelector('button.primary') as HTMLButtonElement).disabled).toBe(true)
    expect(r.container.querySelector('[data-file="broken.json"]')?.textContent).toContain('not JSON')
    expect(fetch.mock.calls.some(([p]) => p === '/api/v1/bots')).toBe(false)
    const good = r.container.querySelector('[data-file="good.json"]') as HTMLElement
    fireEvent.click(good.querySelector('button.primary') as HTMLButtonElement)
    await waitFor(() => expect(good.textContent).toContain('bot good created (stopped)'))
    const post = fetch.mock.calls.find(([p]) => p === '/api/v1/bots')
    expect(JSON.parse(String(post?.[1].body))).toEqual({ config: { bot_id: 'good', bot_type: 'triangular_arbitrage' }, node_id: 'auto' })
  })

  it('a clone goes to the new-bot editor under another id, once', () => {
    handToEditor(cloneOf({ bot_id: 'arb', bot_type: 'triangular_arbitrage' }))
    expect(takeHandoff()).toEqual({ bot_id: 'arb-copy', bot_type: 'triangular_arbitrage' })
    expect(takeHandoff()).toBeNull()
    expect(cloneOf({ bot_id: 'x'.repeat(64) }).bot_id).toBe(`${'x'.repeat(59)}-copy`)
  })

  it('a stored configuration dropped on the editor loads and is checked', async () => {
    const schema = { properties: { bot_id: { type: 'string' }, bot_type: { const: 'triangular_arbitrage' } } }
    const fetch = vi.fn(async (path: string) => {
      if (path === '/api/v1/configs') return answer({ configs: [{ config_id: 'tpl-fast', bot_type: 'triangular_arbitrage', version: 1, body: {} }] })
      if (path === '/api/v1/configs/tpl-fast') return answer({ config_id: 'tpl-fast', version: 1, bot_type: 'triangular_arbitrage', body: { bot_id: 'tpl-fast', bot_type: 'triangular_arbitrage' } })
      if (path.startsWith('/api/v1/configs/schemas/')) return answer(schema)
      if (path.startsWith('/api/v1/configs/templates/')) return answer({ bot_id: 'enhanced-arbitrage-1', bot_type: 'enhanced_arbitrage' })
      if (path === '/api/v1/configs/validate') return answer({ valid: true })
      if (path === '/api/v1/nodes') return answer({ nodes: [] })
      return answer({})
    })
    vi.stubGlobal('fetch', fetch)
    const r = render(<BotEditor />)
    await waitFor(() => expect(r.getByTestId('templates').textContent).toContain('tpl-fast'))
    fireEvent.drop(r.getByTestId('editor-drop'), { dataTransfer: transfer({ [CONFIG_DRAG_TYPE]: 'tpl-fast' }) })
    await waitFor(() => expect(r.getByTestId('editor-notice').textContent).toBe('configuration tpl-fast loaded as tpl-fast-copy: valid; not saved yet'))
    // A new bot from a stored configuration: under another id (the stored one stays a template).
    // The form follows once the type's schema has loaded (a fetch of its own).
    await waitFor(() => expect((r.getByLabelText('bot_id') as HTMLInputElement).value).toBe('tpl-fast-copy'))
    expect((r.getByLabelText('bot type') as HTMLSelectElement).value).toBe('triangular_arbitrage')
    expect(fetch.mock.calls.some(([p]) => p === '/api/v1/configs/validate')).toBe(true)
  })
})
