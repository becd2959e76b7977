package api

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/egress"
	"github.com/intake-dev/intake/internal/webhook"
)

// maxNotifyURL bounds a notify URL, like the api source's URL.
const maxNotifyURL = 2048

// notifyView is a webhook endpoint as requests give it and responses show
// it: the secret only by its name, never its value.
type notifyView struct {
	URL    string         `json:"url" format:"uri" minLength:"1" maxLength:"2048" example:"https://hooks.example.com/intake" doc:"The endpoint, http or https, without credentials. An IP literal must pass the egress policy of the api source (special-purpose addresses are refused unless INTAKE_SOURCE_HTTP_ALLOW allows them); the addresses a host name resolves to are checked when delivering."`
	Events []intake.Event `json:"events,omitempty" enum:"job.completed,job.failed,job.changed" uniqueItems:"true" doc:"The events to deliver; all of them when absent. job.changed is sent besides job.completed when a job found documents new, changed or removed since its previous job."`
	Secret string         `json:"secret,omitempty" maxLength:"64" pattern:"^[A-Za-z0-9_]+$" patternDescription:"a secret NAME: letters, digits and underscores" example:"ACME_WEBHOOK" doc:"The NAME of the operator-configured secret (INTAKE_SECRET_<NAME>) the deliveries are signed with (Standard Webhooks); it must be bound to the URL's host (INTAKE_SECRET_<NAME>_HOSTS). Required unless the operator allows unsigned webhooks (INTAKE_WEBHOOK_ALLOW_UNSIGNED)."`
}

// newNotifyView shows n; nil for none.
func newNotifyView(n *intake.Notify) *notifyView {
	if n == nil {
		return nil
	}
	return &notifyView{URL: n.URL, Events: slices.Clone(n.Events), Secret: n.Secret}
}

// secretName is the form of a secret's NAME in INTAKE_SECRET_<NAME>, case
// aside (names are case-insensitive, as in the api source's configs).
var secretName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// notifyPolicy checks the notify of a trigger or a schedule as the
// deliverer (internal/webhook) will, so that a client learns at once what
// would only fail later, and supplies the deployment's default.
type notifyPolicy struct {
	// secrets are the hosts of the configured secrets, by upper-case name.
	secrets map[string][]string
	// allowUnsigned accepts a notify without a secret.
	allowUnsigned bool
	// egress judges the URL's host when it is an IP literal.
	egress *egress.Policy
	// def is the deployment's notify, for requests without one.
	def *intake.Notify
}

// newNotifyPolicy returns the policy of deps. Without deps.Egress it
// refuses every special-purpose address, as the api source does by default.
func newNotifyPolicy(deps Deps) (*notifyPolicy, error) {
	np := &notifyPolicy{
		secrets:       map[string][]string{},
		allowUnsigned: deps.AllowUnsignedWebhooks,
		egress:        deps.Egress,
		def:           deps.DefaultNotify,
	}
	for name, hosts := range deps.SecretHosts {
		np.secrets[strings.ToUpper(name)] = hosts
	}
	if np.egress == nil {
		p, err := egress.NewPolicy(nil)
		if err != nil {
			return nil, err
		}
		np.egress = p
	}
	return np, nil
}

// orDefault returns n, or a copy of the deployment's default when n is nil.
func (np *notifyPolicy) orDefault(n *intake.Notify) *intake.Notify {
	if n != nil || np.def == nil {
		return n
	}
	d := *np.def
	d.Events = slices.Clone(np.def.Events)
	return &d
}

// parse decodes and checks the notify of a body (raw is its JSON, absent
// or null for none). The body's schema has checked its shape already. Its
// errors are 422 problems located at body.notify.*.
func (np *notifyPolicy) parse(raw json.RawMessage) (*intake.Notify, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v notifyView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body.notify", Message: "expected an object with url, events and secret"})
	}
	n := &intake.Notify{URL: v.URL, Events: v.Events, Secret: strings.ToUpper(v.Secret)}
	if errs := np.check(n); len(errs) > 0 {
		return nil, huma.Error422UnprocessableEntity("invalid notify", errs...)
	}
	return n, nil
}

// check returns a detail per problem of n.
func (np *notifyPolicy) check(n *intake.Notify) []error {
	var errs []error
	bad := func(field, msg string, value any) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.notify." + field, Message: msg, Value: value})
	}
	host, msg := np.checkURL(n.URL)
	if msg != "" {
		bad("url", msg, n.URL)
	}
	for i, e := range n.Events {
		if !slices.Contains(intake.Events, e) {
			bad("events["+strconv.Itoa(i)+"]", "unknown event; known: job.completed, job.failed, job.changed", e)
		}
	}
	switch {
	case n.Secret == "" && !np.allowUnsigned:
		bad("secret", "is required: deliveries are signed with a configured secret (INTAKE_SECRET_<NAME>); "+
			"the operator has not allowed unsigned webhooks", nil)
	case n.Secret == "":
	case !secretName.MatchString(n.Secret):
		bad("secret", "must be a secret NAME: letters, digits and underscores", n.Secret)
	default:
		hosts, ok := np.secrets[n.Secret]
		if !ok {
			bad("secret", "names no configured secret", n.Secret)
		} else if host != "" && !egress.HostMatches(hosts, host) {
			bad("secret", "secret "+n.Secret+" may not sign requests to host "+host+" (INTAKE_SECRET_"+n.Secret+"_HOSTS)", n.Secret)
		}
	}
	return errs
}

// checkURL returns the host of a notify URL, or what is wrong with it.
// It is the deliverer's own check (webhook.CheckURL): a host that is an IP
// literal (or a numeric spelling of one) is judged by the egress policy
// now; names are not resolved here, the deliverer's dialer checks the
// addresses they resolve to.
func (np *notifyPolicy) checkURL(raw string) (host, problem string) {
	if raw == "" {
		return "", "is required"
	}
	if len(raw) > maxNotifyURL {
		return "", "must be at most 2048 characters"
	}
	u, err := webhook.CheckURL(np.egress, raw)
	if err != nil {
		return "", strings.TrimPrefix(err.Error(), "webhook URL: ")
	}
	return u.Hostname(), ""
}
