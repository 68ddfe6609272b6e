import { describe, expect, it } from 'vitest'
import { canonical, diffLines } from './diff'

describe('diffLines', () => {
  it('keeps common lines and marks what changed', () => {
    const d = diffLines(['a', 'b', 'c'], ['a', 'x', 'c', 'd'])
    expect(d).toEqual([
      { kind: 'same', text: 'a' },
      { kind: 'del', text: 'b' },
      { kind: 'add', text: 'x' },
      { kind: 'same', text: 'c' },
      { kind: 'add', text: 'd' },
    ])
  })
  it('diffs configs by content, not key order', () => {
    const a = canonical({ b: 1, a: { y: 2, x: 1 } })
    const b = canonical({ a: { x: 1, y: 2 }, b: 1 })
    expect(diffLines(a.split('\n'), b.split('\n')).every((l) => l.kind === 'same')).toBe(true)
  })
})
