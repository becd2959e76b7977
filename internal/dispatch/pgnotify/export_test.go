package pgnotify

// Payload is payload, for tests.
var Payload = payload

// MaxPayload is maxPayload, for tests.
const MaxPayload = maxPayload

// Connects returns how many times the listener tried to connect.
func (d *Dispatcher) Connects() int64 { return d.connects.Load() }
