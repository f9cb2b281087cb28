/**
 * FromSchema (src/config/from-schema.ts): the Config type derived from configSchema. The checks are
 * mostly compile-time (npm run typecheck covers tests); the runtime part loads the defaults.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { FromSchema } from '../../src/config/from-schema.js'
import type { AlarmRuleConfig, Config } from '../../src/config/schema.js'
import { loadConfig } from '../../src/config/load.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const same = <A, B>(ok: Equal<A, B>): boolean => ok

/** What `typeof` an `as const` schema literal gives. */
interface Schema {
  readonly type: 'object'
  readonly required: readonly ['name']
  readonly properties: {
    readonly name: { readonly type: 'string' }
    readonly port: { readonly type: 'integer', readonly default: 1 }
    readonly mode: { readonly enum: readonly ['a', 'b'] }
    readonly tags: { readonly type: 'array', readonly items: { readonly type: 'string' }, readonly default: readonly [] }
    readonly on: { readonly type: 'boolean' }
  }
}

describe('FromSchema', () => {
  it('required and defaulted keys are present, others optional; enums are unions', () => {
    assert.ok(same<FromSchema<Schema>, {
      readonly name: string
      readonly port: number
      readonly tags: readonly string[]
      readonly mode?: 'a' | 'b'
      readonly on?: boolean
    }>(true))
    assert.ok(same<FromSchema<{ type: 'null' }>, unknown>(true), 'a keyword it does not know yields unknown')
  })

  it('gives Config its sections and keys', () => {
    assert.ok(same<Config['nats']['ack_policy'], 'all' | 'explicit'>(true))
    assert.ok(same<Config['http']['allowed_hosts'], readonly string[]>(true))
    assert.ok(same<AlarmRuleConfig['machines'], readonly string[] | undefined>(true))
    const c: Config = loadConfig([], {})
    assert.equal(typeof c.ingest.batch_size, 'number')
    assert.deepEqual(c.plant.shifts[0]?.breaks, [])
  })
})
