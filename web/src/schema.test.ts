import { describe, expect, it } from 'vitest'
import { errorsFor, getAt, sections, setAt, unplacedErrors } from './schema'

const schema = {
  properties: {
    bot_id: { type: 'string' },
    parameters: {
      type: 'object',
      properties: {
        trading: {
          type: 'object',
          properties: {
            min_profit_bps: { type: 'integer', 'x-hot-reload': true },
            max_hops: { type: 'integer', 'x-hot-reload': false },
          },
        },
      },
    },
  },
}

describe('schema walking', () => {
  it('groups leaf fields by section with their hot-reload mark', () => {
    const s = sections(schema)
    expect(s.map((x) => x.path)).toEqual(['', 'parameters.trading'])
    expect(s[1].fields.map((f) => [f.path, f.hot])).toEqual([
      ['parameters.trading.min_profit_bps', true],
      ['parameters.trading.max_hops', false],
    ])
  })
  it('reads and writes dotted paths without touching the original', () => {
    const v = { parameters: { trading: { min_profit_bps: 5 } } }
    const w = setAt(v, 'parameters.trading.max_hops', 3)
    expect(getAt(w, 'parameters.trading.max_hops')).toBe(3)
    expect(getAt(w, 'parameters.trading.min_profit_bps')).toBe(5)
    expect(getAt(v, 'parameters.trading.max_hops')).toBeUndefined()
  })
  it('places server errors at fields, by full or parameter-relative path', () => {
    const errors = [
      { path: 'trading.min_profit_bps', message: 'must be between 1 and 1000, got 5000' },
      { path: 'bot_id', message: 'bad id' },
      { path: 'bogus', message: 'unknown field' },
    ]
    expect(errorsFor('parameters.trading.min_profit_bps', errors)).toEqual(['must be between 1 and 1000, got 5000'])
    expect(errorsFor('bot_id', errors)).toEqual(['bad id'])
    const fields = sections(schema).flatMap((s) => s.fields)
    expect(unplacedErrors(fields, errors).map((e) => e.path)).toEqual(['bogus'])
  })
})
