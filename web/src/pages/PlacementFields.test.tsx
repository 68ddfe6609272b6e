import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, fireEvent, render } from '@testing-library/react'
import { useState } from 'react'
import { NEW_PLACEMENT, PlacementFields, placementRequest, type PlacementForm } from './PlacementFields'

afterEach(cleanup)

describe('the new bot’s placement', () => {
  it('becomes the request’s placement fields, or says what is wrong', () => {
    expect(placementRequest(NEW_PLACEMENT, 'enhanced_arbitrage')).toEqual({ node_id: 'local' })
    const auto: PlacementForm = { nodeId: 'auto', labels: ' region=ny, rack=3 ', cores: '2', failover: 'no', replicas: '3' }
    expect(placementRequest(auto, 'ml_analytics')).toEqual({
      node_id: 'auto',
      labels: { region: 'ny', rack: '3' },
      cores: 2,
      failover: false,
      replicas: 3,
    })
    // A trading type never asks for replicas, whatever the field held.
    expect(placementRequest(auto, 'enhanced_arbitrage')).not.toHaveProperty('replicas')
    expect(placementRequest({ ...auto, labels: 'region' }, 'ml_analytics')).toBe(
      'labels: expected key=value pairs separated by commas (got "region")',
    )
    expect(placementRequest({ ...auto, labels: 'a=b=c' }, 'ml_analytics')).toMatch(/^labels:/)
    expect(placementRequest({ ...auto, cores: '1.5' }, 'ml_analytics')).toMatch(/^cores:/)
    expect(placementRequest({ ...auto, replicas: '' }, 'ml_analytics')).toMatch(/^replicas:/)
  })

  it('shows labels for auto placement and replicas for observer types only', () => {
    function Form({ botType }: { botType: string }) {
      const [p, setP] = useState<PlacementForm>(NEW_PLACEMENT)
      return (
        <>
          <PlacementFields value={p} onChange={setP} nodes={['local', 'ny-1']} botType={botType} />
          <output data-testid="value">{JSON.stringify(placementRequest(p, botType))}</output>
        </>
      )
    }
    const r = render(<Form botType="real_time_dashboard" />)
    expect(r.queryByLabelText('labels')).toBeNull()
    fireEvent.change(r.getByLabelText('node'), { target: { value: 'auto' } })
    fireEvent.change(r.getByLabelText('labels'), { target: { value: 'region=ny' } })
    fireEvent.change(r.getByLabelText('replicas'), { target: { value: '2' } })
    fireEvent.change(r.getByLabelText('failover'), { target: { value: 'yes' } })
    expect(JSON.parse(r.getByTestId('value').textContent ?? '')).toEqual({
      node_id: 'auto',
      labels: { region: 'ny' },
      failover: true,
      replicas: 2,
    })
    cleanup()
    const t = render(<Form botType="triangular_arbitrage" />)
    expect(t.queryByLabelText('replicas')).toBeNull()
    expect(t.getAllByRole('option').map((o) => o.textContent)).toContain('ny-1')
  })
})
