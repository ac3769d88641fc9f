// Package mqttlink is the chair's (and the station's) connection to the
// clinic's MQTT broker (CONTRACT §4). It wraps paho.mqtt.golang so that the
// rest of chairside never meets paho's sharp edges (protocols/go-libraries.md
// §1c):
//
//   - Publish never blocks the caller. The alarm engine's goroutine hands a
//     message over a bounded queue and learns the outcome from a done
//     callback: nil only after the broker's PUBACK, so the durable outbox can
//     delete a record only once the broker has it. While the link is down
//     Publish fails at once instead of letting paho queue: the outbox is the
//     queue, and paho's own store would resend stale copies or silently drop
//     QoS 0.
//
//   - paho completes a publish token without an error when it resends the
//     message after a reconnect, before any PUBACK for the resent copy. The
//     link watches paho's store (ackStore) and reports such a message as not
//     acknowledged (ErrResent), never as delivered.
//
//   - Callbacks from paho never block: they hand work to the link's own
//     goroutines (connect handling, inbound delivery, completion of publishes).
//
//   - Subscriptions are made again on every connect (CleanSession is true, so
//     the broker forgets them), and OnConnect callbacks then republish the
//     live state and restart the backlog.
//
//   - Health: the link reports LinkDown when the broker has been unreachable
//     for LinkDownAfter, or when the chair's own heartbeat, published on
//     HeartbeatTopic, does not come back through the broker within the echo
//     window. The second case catches a broker that accepts publishes and
//     drops them, which is what a mosquitto ACL does to an MQTT 3.1.1 client.
//     This is the link_down condition of CONTRACT §3.
//
//   - For a records system (recorder) Config.PersistentSession keeps the
//     broker session across connections and Config.ManualAck leaves each
//     message unacknowledged until the handler has stored it; the chair's
//     defaults (clean session, automatic acknowledgement) are unchanged.
//
// A Link is made with New, run once with Run (which returns when its context
// ends, after publishing the offline state and disconnecting cleanly), and is
// safe for concurrent use by any number of goroutines.
package mqttlink
