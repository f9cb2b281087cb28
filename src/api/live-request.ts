/**
 * A live-feed client message (one WebSocket text frame) → what it asks for, or why it is refused:
 *
 *   {"subscribe": "*" | [ids], "exact"?: boolean}                  change (with any "unsubscribe")
 *   {"unsubscribe": "*" | [ids]}                                    change
 *   {"subscribe": "*" | [ids], "since": cursor, "exact"?: true}    resume ("since" implies exact)
 *
 * "exact": every reading of the subscription, with cursors, instead of the throttled feed
 * (live.max_per_machine_per_second). The cursor itself is checked by the resume (live-cursor.ts).
 */
import { isMachineId, MACHINE_ID_MAX_LENGTH } from '../machine-id.js'

export type Machines = '*' | string[]

export type LiveRequest =
  | { readonly type: 'change', readonly subscribe?: Machines, readonly unsubscribe?: Machines, readonly exact?: boolean }
  | { readonly type: 'resume', readonly subscribe: Machines, readonly since: unknown }
  | { readonly type: 'invalid', readonly message: string }

const isMachines = (v: unknown): v is Machines => v === '*' || (Array.isArray(v) && v.every(isMachineId))

export function parseLiveRequest (text: string): LiveRequest {
  let req: unknown
  try {
    req = JSON.parse(text)
  } catch {
    return { type: 'invalid', message: 'not JSON; send {"subscribe": ["CNC-001"]} or {"subscribe": "*"}' }
  }
  const body = (typeof req === 'object' && req !== null ? req : {}) as { subscribe?: unknown, unsubscribe?: unknown, since?: unknown, exact?: unknown }
  const { subscribe, unsubscribe, since, exact } = body
  if ((subscribe === undefined && unsubscribe === undefined) || (subscribe !== undefined && !isMachines(subscribe)) ||
    (unsubscribe !== undefined && !isMachines(unsubscribe))) {
    return { type: 'invalid', message: `expected {"subscribe"|"unsubscribe": "*" or a list of machine ids (1–${MACHINE_ID_MAX_LENGTH} characters, no NUL)}` }
  }
  if (exact !== undefined && typeof exact !== 'boolean') return { type: 'invalid', message: '"exact" is true or false' }
  if (exact !== undefined && subscribe === undefined) return { type: 'invalid', message: '"exact" goes with "subscribe" only' }
  if (since === undefined) {
    return { type: 'change', ...(subscribe === undefined ? {} : { subscribe }), ...(unsubscribe === undefined ? {} : { unsubscribe }), ...(exact === undefined ? {} : { exact }) }
  }
  if (subscribe === undefined || unsubscribe !== undefined) return { type: 'invalid', message: '"since" goes with "subscribe" only' }
  if (exact === false) return { type: 'invalid', message: '"since" resumes an exact feed: leave out "exact" or send true' }
  return { type: 'resume', subscribe, since }
}
