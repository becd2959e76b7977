package intake

import "time"

// Notify is where a job's events are delivered: a webhook endpoint signed
// per the Standard Webhooks specification with the secret
// INTAKE_SECRET_<Secret>.
type Notify struct {
	// URL is the endpoint; the api source's egress policy applies to it.
	URL string `json:"url"`
	// Events lists the events to deliver; all of Events when empty.
	Events []Event `json:"events,omitempty"`
	// Secret names the signing secret: INTAKE_SECRET_<Secret> in the
	// environment of the processes that deliver (whsec_ base64 or raw).
	Secret string `json:"secret,omitempty"`
}

// Event is a webhook event type.
type Event string

// The events.
const (
	// EventJobCompleted is sent when a job completes.
	EventJobCompleted Event = "job.completed"
	// EventJobFailed is sent when a job fails for good.
	EventJobFailed Event = "job.failed"
	// EventJobChanged is sent, besides job.completed, when a completed job
	// found documents new, changed or removed since its previous job.
	EventJobChanged Event = "job.changed"
)

// Events lists every event.
var Events = []Event{EventJobCompleted, EventJobFailed, EventJobChanged}

// Wants reports whether n delivers event e.
func (n *Notify) Wants(e Event) bool {
	if n == nil {
		return false
	}
	if len(n.Events) == 0 {
		return true
	}
	for _, v := range n.Events {
		if v == e {
			return true
		}
	}
	return false
}

// The outbox. A job with Notify set gets NotifyDueAt = its end time in the
// same atomic step that ends it (FinishRun with done, Fail, a lease that
// expired on the last attempt): the event is then in the store as surely
// as the job's status. The maintenance loop claims due notifications
// (ClaimNotifications moves NotifyDueAt to the claim's deadline, so that a
// crashed deliverer's claim lapses and another replica delivers), sends
// them, logs each attempt (RecordDelivery) and settles them
// (SettleNotification: delivered, or due again after a backoff).

// NotifyClaim is one claimed notification: the job and the deadline its
// claim holds until, which SettleNotification compares.
type NotifyClaim struct {
	Job   *Job
	Until time.Time
}

// Delivery is the log of one delivery attempt of a job's event.
type Delivery struct {
	// ID is a UUIDv7 string set by the store.
	ID    string `json:"id"`
	JobID string `json:"job_id"`
	// MessageID is the webhook-id header: the same for every attempt of
	// the same event of the same job, so that receivers can deduplicate.
	MessageID string `json:"message_id"`
	Event     Event  `json:"event"`
	URL       string `json:"url"`
	// Attempt is 1 for the first attempt of a notification.
	Attempt int `json:"attempt"`
	// StatusCode is the endpoint's HTTP status, 0 when none was received.
	StatusCode int `json:"status_code,omitempty"`
	// OK reports a 2xx answer.
	OK bool `json:"ok"`
	// Error says why the attempt failed, if it did.
	Error string `json:"error,omitempty"`
	// Duration is how long the attempt took.
	DurationMS  int64     `json:"duration_ms"`
	AttemptedAt time.Time `json:"attempted_at"`
}
