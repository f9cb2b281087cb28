/**
 * A three-node JetStream cluster with an R3 stream, the service given the three URLs in
 * CNC_NATS_URL. Under live load (JetStream publishes with Nats-Msg-Id, retried until acknowledged) the
 * test kills -9 the stream's leader and restarts it, then the consumer's leader; the full run
 * (FAULTS_FULL=1) runs two instances on the consumer, restarts all three nodes one after the other
 * (SIGTERM, start, wait until every replica is current), then kills -9 one instance. Accounting exact
 * at the end (test/faults/load.ts).
 *
 * Recovery time of a fault: from the kill until the consumer's ack floor reaches the last sequence
 * delivered before it, i.e. everything handed out before the fault is settled and newer messages
 * flow (redeliveries of batches whose acks died with the leader wait out ack_wait, 3 s here).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CONSUMER, FULL, STREAM, waitFor, type ServiceProc } from '../faults/harness.js'
import { LivePublisher, assertAccounting, prefill } from '../faults/load.js'
import { ClusterWorld, ReadySampler, type NatsNode } from './nats-cluster.js'

const PREFILL = FULL ? 100_000 : 10_000
const INSTANCES = FULL ? 2 : 1
// Two instances with PostgreSQL and three nats-servers on two busy cores need a longer ack wait than the
// fault tests' 3 s (see test/cluster/instances.test.ts); it also delays redeliveries after a failover.
const ACK_WAIT = FULL ? '10000' : '3000'
const ENV = {
  CNC_INGEST_BATCH_SIZE: '2000',
  CNC_NATS_MAX_ACK_PENDING: String(INSTANCES * 2000 * 3),
  CNC_NATS_ACK_WAIT_MS: ACK_WAIT,
  CNC_NATS_BACKOFF_MS: ACK_WAIT,
}
const RATE = FULL ? 3_000 : 1_000
const METRICS = ['cnc_nats_reconnects_total', 'cnc_pull_stalls_total', 'cnc_jetstream_leader_elections_total', 'cnc_messages_redelivered_total', 'cnc_messages_already_committed_total'] as const

describe('JetStream cluster: 3 nodes, R3 stream, leaders killed -9', () => {
  let w: ClusterWorld
  before(async () => { w = await ClusterWorld.start(3) })
  after(async () => { await w?.stop() })

  it('stores every reading once through leader failovers' + (FULL ? ', a rolling restart and an instance killed' : ''), async (t) => {
    await prefill(w, 0, PREFILL, 5_000)
    const s = w.spawnService(ENV)
    const others = Array.from({ length: INSTANCES - 1 }, () => w.spawnService(ENV))
    await Promise.all([s, ...others].map((x) => x.waitReady(60_000)))
    const pub = new LivePublisher(w, PREFILL)
    pub.start(50, RATE)
    await waitFor('a quarter of the backlog committed', async () => await s.metric('cnc_messages_committed_total') > PREFILL / 4, 60_000, 50)

    const notes: string[] = []
    /** `stop` kills something; `restart` (optional) brings it back once the ack floor has caught up. */
    const measure = async (label: string, stop: () => Promise<void>, restart?: () => Promise<void>): Promise<void> => {
      const jsm = await w.jsm()
      const before = await metrics(s)
      const deliveredAtKill = (await jsm.consumers.info(STREAM, CONSUMER)).delivered.stream_seq
      const sampler = new ReadySampler(() => w.services)
      const t0 = Date.now()
      await stop()
      await waitFor(`${label}: the ack floor to reach ${deliveredAtKill}`, async () =>
        (await jsm.consumers.info(STREAM, CONSUMER)).ack_floor.stream_seq >= deliveredAtKill, 120_000, 100)
      const recoveredMs = Date.now() - t0
      await restart?.()
      const readyz = await sampler.stop()
      const delta = diff(before, await metrics(s))
      notes.push(`${label}: recovered in ${recoveredMs} ms; /readyz seen ${readyz}; ${delta} (instance 1); ` +
        `publish retries so far ${pub.failures}`)
    }
    const fault = async (label: string, pick: () => Promise<NatsNode>, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> => {
      const node = await pick()
      await measure(`${label} (${node.name})`, () => node.stop(signal), async () => {
        await node.start()
        await w.waitCurrent(120_000)
      })
    }

    await fault('stream leader kill -9', async () => w.nats.node(await w.streamLeader()), 'SIGKILL')
    await fault('consumer leader kill -9', async () => w.nats.node(await w.consumerLeader()), 'SIGKILL')
    if (FULL) {
      for (const n of w.nats.nodes) await fault(`rolling restart, SIGTERM of ${n.name}`, async () => n, 'SIGTERM')
      for (const o of others) {
        await measure('instance 2 kill -9', async () => {
          o.kill('SIGKILL')
          await o.exit
        })
      }
    }

    await pub.stop()
    const published = PREFILL + pub.acked
    const acc = await assertAccounting(w, { valid: published, published })
    for (const n of notes) t.diagnostic(n)
    t.diagnostic(`${PREFILL} prefilled + ${pub.acked} live = ${published} published; accounts ${JSON.stringify(acc)}`)
    assert.ok(s.alive, 'the service ran throughout')
    assert.ok(await s.metric('cnc_jetstream_leader_elections_total') > 0, 'the leader elections were seen')
    await waitFor('the service ready after the faults', async () => (await s.readyz()).status === 200, 30_000, 100)
  })
})

async function metrics (s: ServiceProc): Promise<number[]> {
  return await Promise.all(METRICS.map(async (m) => await s.metric(m).catch(() => Number.NaN)))
}

function diff (a: number[], b: number[]): string {
  return METRICS.map((m, i) => `${m.replace(/^cnc_|_total$/g, '')} +${(b[i] ?? 0) - (Number.isNaN(a[i]) ? 0 : a[i] ?? 0)}`).join(', ')
}
