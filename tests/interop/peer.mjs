// A js-libp2p GossipSub peer for tests/test_interop.py: an independent libp2p
// implementation talking to a Cercle node.
//
//   node peer.mjs TOPIC [MULTIADDR]
//
// Listens on /ip4/127.0.0.1/tcp/0 (TCP + Noise + Yamux/Mplex, GossipSub
// /meshsub/1.2.0 with StrictSign, message id = SHA-256 of the data as Cercle
// uses), subscribes to TOPIC, dials MULTIADDR if given. stdout carries one JSON
// object per line:
//   {"event":"listening","peer_id":ID,"addrs":[...]}
//   {"event":"connected","peer_id":ID}             the dial succeeded
//   {"event":"subscribed","peer_id":ID}            a peer joined TOPIC
//   {"event":"graft","peer_id":ID}                 a peer entered our TOPIC mesh
//   {"event":"message","from":ID,"data":HEX}       a message received on TOPIC
//   {"event":"published","data":HEX,"recipients":[ID...]}
//   {"event":"publish_error","data":HEX,"error":STR}
//   {"event":"error","error":STR}
// Each stdin line is a hex payload to publish on TOPIC. EOF on stdin, SIGTERM or
// SIGINT stop the peer.

import { createHash } from 'node:crypto'
import { createInterface } from 'node:readline'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { mplex } from '@libp2p/mplex'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

// Node 20 lacks Promise.withResolvers (Node >= 22), which some of libp2p's
// dependencies call at run time (not at import), so this polyfill is in time.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const [topic, dialAddr] = process.argv.slice(2)
if (!topic) {
  process.stderr.write('usage: node peer.mjs TOPIC [MULTIADDR]\n')
  process.exit(2)
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const hex = (bytes) => Buffer.from(bytes).toString('hex')
const sha256 = (bytes) => new Uint8Array(createHash('sha256').update(bytes).digest())

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux(), mplex()],
  services: {
    identify: identify(),
    pubsub: gossipsub({
      emitSelf: false,
      globalSignaturePolicy: 'StrictSign',
      allowPublishToZeroTopicPeers: true,
      // Cercle's message id: SHA-256 of the data (the record envelope).
      msgIdFn: (msg) => sha256(msg.data),
      fastMsgIdFn: (msg) => hex(sha256(msg.data ?? new Uint8Array())),
      heartbeatInterval: 500
    })
  }
})
const pubsub = node.services.pubsub

pubsub.addEventListener('message', (evt) => {
  const msg = evt.detail
  if (msg.topic !== topic) return
  emit({ event: 'message', from: msg.type === 'signed' ? msg.from.toString() : null, data: hex(msg.data) })
})
pubsub.addEventListener('subscription-change', (evt) => {
  for (const sub of evt.detail.subscriptions) {
    if (sub.topic === topic && sub.subscribe) emit({ event: 'subscribed', peer_id: evt.detail.peerId.toString() })
  }
})
pubsub.addEventListener('gossipsub:graft', (evt) => {
  if (evt.detail.topic === topic) emit({ event: 'graft', peer_id: evt.detail.peerId })
})

pubsub.subscribe(topic)
await node.start()
emit({
  event: 'listening',
  peer_id: node.peerId.toString(),
  addrs: node.getMultiaddrs().map((a) => a.toString())
})

let stopping = false
async function stop (code = 0) {
  if (stopping) return
  stopping = true
  try {
    await node.stop()
  } finally {
    process.exit(code)
  }
}
process.on('SIGTERM', () => { stop(0) })
process.on('SIGINT', () => { stop(0) })

if (dialAddr) {
  try {
    const conn = await node.dial(multiaddr(dialAddr))
    emit({ event: 'connected', peer_id: conn.remotePeer.toString() })
  } catch (err) {
    emit({ event: 'error', error: `dial ${dialAddr}: ${err}` })
  }
}

// Publish stdin lines in order, one at a time.
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  const text = line.trim()
  if (!text) continue
  const data = Uint8Array.from(Buffer.from(text, 'hex'))
  try {
    const res = await pubsub.publish(topic, data)
    emit({ event: 'published', data: text, recipients: res.recipients.map((p) => p.toString()) })
  } catch (err) {
    emit({ event: 'publish_error', data: text, error: String(err) })
  }
}
await stop(0)
