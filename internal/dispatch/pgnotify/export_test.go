package pgnotify

// Payload is payload, for tests.
var Payload = payload

// MaxPayload is maxPayload, for tests.
const MaxPayload = maxPayload
