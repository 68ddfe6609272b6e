import { useSyncExternalStore } from 'react'
import type { Environment } from './generated/api'

/** Every environment, in order. */
export const ENVIRONMENTS: readonly Environment[] = ['dev', 'test', 'prod']

const KEY = 'sniperforge:env'
const listeners = new Set<() => void>()

function isEnvironment(v: unknown): v is Environment {
  return v === 'dev' || v === 'test' || v === 'prod'
}

/** The environment the switcher shows (`null`: every one the token reaches). */
export function getEnv(): Environment | null {
  const v = localStorage.getItem(KEY)
  return isEnvironment(v) ? v : null
}

/** Switches the pages to `env` (`null`: all), remembered in this browser. */
export function setEnv(env: Environment | null) {
  if (env) localStorage.setItem(KEY, env)
  else localStorage.removeItem(KEY)
  for (const l of listeners) l()
}

function subscribe(l: () => void) {
  listeners.add(l)
  return () => listeners.delete(l)
}

/** The switcher's environment, re-rendering when it changes. */
export function useEnv(): Environment | null {
  return useSyncExternalStore(subscribe, getEnv)
}
