import { describe, expect, it, afterEach } from 'vitest'
import { cleanup, fireEvent, render } from '@testing-library/react'
import { useState } from 'react'
import { SchemaForm } from './SchemaForm'
import { Chart } from './Chart'
import { ConfirmButton } from './Confirm'
import { Table, type Column } from './Table'

afterEach(cleanup)

const schema = {
  properties: {
    bot_id: { type: 'string' },
    parameters: {
      type: 'object',
      properties: {
        trading: {
          type: 'object',
          properties: {
            min_profit_bps: { type: 'integer', minimum: 1, maximum: 1000, 'x-hot-reload': true, description: 'Floor (applies without a restart)' },
            dexs: { type: 'array', items: { enum: ['Orca', 'Raydium'] }, 'x-hot-reload': false },
            simulation: { type: 'boolean', 'x-hot-reload': false },
            weights: { type: 'object', additionalProperties: { type: 'number' }, 'x-hot-reload': true },
          },
        },
      },
    },
  },
}

function Harness({ errors = [] as { path: string; message: string }[] }) {
  const [v, setV] = useState<unknown>({
    bot_id: 'b1',
    parameters: { trading: { min_profit_bps: 50, dexs: ['Orca'], simulation: true, weights: { SOL: 0.5 } } },
  })
  return (
    <>
      <SchemaForm schema={schema} value={v} onChange={setV} errors={errors} />
      <output data-testid="value">{JSON.stringify(v)}</output>
    </>
  )
}

describe('SchemaForm', () => {
  it('renders each field with its hot or restart label and edits the value', () => {
    const r = render(<Harness />)
    const field = (p: string) => r.container.querySelector(`[data-path="${p}"]`)!
    expect(field('parameters.trading.min_profit_bps').querySelector('.badge.hot')).not.toBeNull()
    expect(field('parameters.trading.dexs').querySelector('.badge.restart')).not.toBeNull()
    fireEvent.change(field('parameters.trading.min_profit_bps').querySelector('input')!, { target: { value: '70' } })
    fireEvent.click(r.getByLabelText('Raydium'))
    fireEvent.click(field('parameters.trading.simulation').querySelector('input')!)
    fireEvent.change(field('parameters.trading.weights').querySelector('input')!, { target: { value: '{"SOL": 0.7}' } })
    const v = JSON.parse(r.getByTestId('value').textContent!)
    expect(v.parameters.trading).toEqual({ min_profit_bps: 70, dexs: ['Orca', 'Raydium'], simulation: false, weights: { SOL: 0.7 } })
  })
  it('keeps a non-number as typed so the server can say what is wrong', () => {
    const r = render(<Harness />)
    const input = r.container.querySelector('[data-path="parameters.trading.min_profit_bps"] input')!
    fireEvent.change(input, { target: { value: '' } })
    expect(JSON.parse(r.getByTestId('value').textContent!).parameters.trading.min_profit_bps).toBe('')
  })
  it('shows server errors at their fields and the rest above the form', () => {
    const r = render(
      <Harness
        errors={[
          { path: 'trading.min_profit_bps', message: 'must be between 1 and 1000, got 5000' },
          { path: 'bogus', message: 'unknown field' },
        ]}
      />,
    )
    const field = r.container.querySelector('[data-path="parameters.trading.min_profit_bps"]')!
    expect(field.classList.contains('invalid')).toBe(true)
    expect(field.textContent).toContain('must be between 1 and 1000, got 5000')
    expect(r.getByTestId('form-errors').textContent).toContain('bogus')
  })
})

describe('Chart', () => {
  it('draws a line per series and counts the points, gaps excluded', () => {
    const r = render(
      <Chart
        label="t"
        series={[
          { name: 'p50', color: '#0f0', points: [[0, 10], [1000, 20], [2000, null], [3000, 15]] },
          { name: 'p99', color: '#f00', points: [[0, 100], [1000, 200]] },
        ]}
      />,
    )
    const svg = r.getByTestId('latency-chart')
    expect(svg.getAttribute('data-points')).toBe('5')
    // p50: one segment and one lone point after the gap; p99: one segment.
    expect(svg.querySelectorAll('polyline').length).toBe(2)
    expect(svg.querySelectorAll('circle').length).toBe(1)
  })
})

describe('ConfirmButton', () => {
  it('acts only after confirmation', () => {
    let done = 0
    const r = render(<ConfirmButton label="Stop" question="Stop?" onConfirm={() => void done++} />)
    fireEvent.click(r.getByRole('button', { name: 'Stop' }))
    expect(done).toBe(0)
    fireEvent.click(r.getByRole('button', { name: 'Cancel' }))
    expect(r.queryByRole('dialog')).toBeNull()
    fireEvent.click(r.getByRole('button', { name: 'Stop' }))
    fireEvent.click(r.getByRole('button', { name: 'Confirm stop' }))
    expect(done).toBe(1)
  })
})

describe('Table', () => {
  interface Row {
    id: string
    n: number
  }
  const columns: Column<Row>[] = [
    { header: 'Id', cell: (r) => <a href={`#/${r.id}`}>{r.id}</a> },
    { header: 'N', className: 'num', cell: (r) => r.n },
  ]
  it('renders a header row and a row per item, cells in column order', () => {
    const r = render(
      <Table
        testId="t"
        columns={columns}
        rows={[
          { id: 'a', n: 1 },
          { id: 'b', n: 2 },
        ]}
        rowKey={(x) => x.id}
        rowProps={(x) => ({ 'data-row': x.id })}
        empty="Nothing."
      />,
    )
    const table = r.getByTestId('t')
    expect([...table.querySelectorAll('thead th')].map((th) => [th.textContent, th.className])).toEqual([
      ['Id', ''],
      ['N', 'num'],
    ])
    const rows = table.querySelectorAll('tbody tr')
    expect(rows.length).toBe(2)
    expect(rows[1].getAttribute('data-row')).toBe('b')
    expect([...rows[1].querySelectorAll('td')].map((td) => td.textContent)).toEqual(['b', '2'])
    expect(rows[1].querySelector('td:nth-child(2)')!.className).toBe('num')
    expect(rows[0].querySelector('a')!.getAttribute('href')).toBe('#/a')
  })
  it('shows the empty row across the columns, or nothing without one', () => {
    const r = render(<Table testId="e" columns={columns} rows={[]} rowKey={(x) => x.id} empty="Nothing." />)
    const td = r.getByTestId('e').querySelector('tbody td')!
    expect(td.textContent).toBe('Nothing.')
    expect(td.getAttribute('colspan')).toBe('2')
    const bare = render(<Table testId="bare" columns={columns} rows={[]} rowKey={(x) => x.id} />)
    expect(bare.getByTestId('bare').querySelectorAll('tbody tr').length).toBe(0)
  })
})
