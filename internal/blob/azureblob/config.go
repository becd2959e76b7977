package azureblob

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/redact"
)

// Config configures a Bucket. Give either ConnectionString or ServiceURL.
// ParseURL builds one from a URL or a connection string.
type Config struct {
	// ConnectionString is an Azure Storage connection string, from the
	// portal ("DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;
	// EndpointSuffix=core.windows.net"), with a BlobEndpoint (Azurite:
	// "…;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1"), with a
	// SharedAccessSignature instead of an AccountKey, or the emulator
	// shortcut "UseDevelopmentStorage=true".
	ConnectionString string
	// ServiceURL is the blob service endpoint with a SAS token as its
	// query, e.g. "https://ACCOUNT.blob.core.windows.net/?sv=…&sig=…". It
	// is used when ConnectionString is empty.
	ServiceURL string
	// Container names the container holding the blobs; DefaultContainer
	// when empty.
	Container string
	// CreateContainer makes Open create the container when it does not
	// exist. Its zero value is false: callers that want Azure's usual
	// behaviour set it (ParseURL does unless the URL says create=false).
	CreateContainer bool
	// BlockSize is the size of the blocks Put stages, and so the memory
	// one Put holds; DefaultBlockSize when zero.
	BlockSize int64
	// MaxRetries is how often the SDK retries a failed request;
	// DefaultMaxRetries when zero, none when negative.
	MaxRetries int
	// TryTimeout bounds each attempt of a request other than reading a
	// downloaded body; DefaultTryTimeout when zero.
	TryTimeout time.Duration
	// Logger receives the few events worth logging (the container was
	// created); nil discards them.
	Logger *slog.Logger
}

// The storage emulator's account: Azurite's well-known development account
// and key, published in Microsoft's documentation. They are no secret.
const (
	devAccount  = "devstoreaccount1"
	devKey      = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==" //nolint:gosec // Azurite's published development key
	devEndpoint = "http://127.0.0.1:10000/" + devAccount
)

// ParseURL returns the Config that raw names. It accepts:
//
//   - azblob://ACCOUNT.blob.core.windows.net/CONTAINER?SAS — an Azure
//     account over HTTPS, authenticated by the SAS token that forms the
//     query (sv=…&sig=…; URL-encoded as Azure gives it);
//   - azblob://CONTAINER?endpoint=URL[&SAS] — a blob endpoint given in
//     full, for emulators and private endpoints, e.g.
//     azblob://documents?endpoint=http://127.0.0.1:10000/devstoreaccount1
//     for Azurite; without a SAS the endpoint must be Azurite's
//     devstoreaccount1, whose key is public;
//   - azblob://CONTAINER — the container only; the caller supplies the
//     connection string (intake takes it from AZURE_BLOB_CONN);
//   - an Azure Storage connection string, as the portal shows it
//     ("DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;
//     EndpointSuffix=core.windows.net") or "UseDevelopmentStorage=true";
//     the container is DefaultContainer.
//
// Every azblob:// form takes create=false to keep Open from creating a
// missing container; otherwise CreateContainer is true. Errors are
// EINVALID and never repeat raw, which may hold a secret.
func ParseURL(raw string) (Config, error) {
	rest, ok := strings.CutPrefix(raw, "azblob://")
	if !ok {
		if !IsConnectionString(raw) {
			return Config{}, intake.Errorf(intake.EINVALID, "azure blob URL: want azblob://… or an Azure Storage connection string")
		}
		cfg := Config{ConnectionString: raw, Container: DefaultContainer, CreateContainer: true}
		if _, err := resolveEndpoint(cfg); err != nil {
			return Config{}, err
		}
		return cfg, nil
	}
	hostPath, rawQuery, _ := strings.Cut(rest, "?")
	if strings.Contains(hostPath, "@") {
		// Userinfo would be a credential: refuse it without repeating any
		// part of it (found by FuzzParseURL).
		return Config{}, intake.Errorf(intake.EINVALID, "azure blob URL: azblob://HOST/CONTAINER needs a host without credentials; put a SAS in the query or use a connection string")
	}
	cfg := Config{CreateContainer: true}
	// Keep the SAS parameters as given: re-encoding them would turn an
	// unescaped "+" of a signature into a space.
	var endpoint string
	var sasParams []string
	for _, param := range strings.Split(rawQuery, "&") {
		if param == "" {
			continue
		}
		name, value, _ := strings.Cut(param, "=")
		switch name {
		case "create":
			create, err := strconv.ParseBool(value)
			if err != nil {
				return Config{}, intake.Errorf(intake.EINVALID, "azure blob URL: create=%q is not a boolean", value)
			}
			cfg.CreateContainer = create
		case "endpoint":
			v, err := url.QueryUnescape(value)
			if err != nil {
				return Config{}, intake.Errorf(intake.EINVALID, "azure blob URL: malformed endpoint")
			}
			endpoint = v
		default:
			sasParams = append(sasParams, param)
		}
	}
	sas := strings.Join(sasParams, "&")

	host, containerName, hasPath := strings.Cut(strings.TrimSuffix(hostPath, "/"), "/")
	if hasPath {
		// azblob://ACCOUNT.blob.core.windows.net/CONTAINER?SAS
		if endpoint != "" {
			return Config{}, intake.Errorf(intake.EINVALID, "azure blob URL: give either azblob://HOST/CONTAINER or azblob://CONTAINER?endpoint=URL, not both")
		}
		if host == "" || strings.ContainsAny(host, "@") {
			return Config{}, intake.Errorf(intake.EINVALID, "azure blob URL: azblob://HOST/CONTAINER needs a host such as ACCOUNT.blob.core.windows.net")
		}
		if sas == "" {
			return Config{}, intake.Errorf(intake.EINVALID,
				"azure blob URL: azblob://%s/%s needs a SAS token as its query (or use a connection string)", host, containerName)
		}
		cfg.ServiceURL = "https://" + host + "/?" + sas
		cfg.Container = containerName
	} else {
		cfg.Container = host
		switch {
		case endpoint == "" && sas != "":
			return Config{}, intake.Errorf(intake.EINVALID, "azure blob URL: a SAS needs an account: azblob://ACCOUNT.blob.core.windows.net/CONTAINER?SAS")
		case endpoint == "":
			// The caller provides the connection string.
		case sas != "":
			cfg.ServiceURL = strings.TrimSuffix(endpoint, "/") + "/?" + sas
		case isDevEndpoint(endpoint):
			cfg.ConnectionString = "DefaultEndpointsProtocol=http;AccountName=" + devAccount + ";AccountKey=" + devKey + ";BlobEndpoint=" + endpoint
		default:
			return Config{}, intake.Errorf(intake.EINVALID,
				"azure blob URL: endpoint %s needs a SAS token in the query (only Azurite's %s has a well-known key)", redact.Location(endpoint), devAccount)
		}
	}
	if cfg.Container == "" {
		cfg.Container = DefaultContainer
	}
	if err := validateContainer(cfg.Container); err != nil {
		return Config{}, err
	}
	if cfg.ServiceURL != "" || cfg.ConnectionString != "" {
		if _, err := resolveEndpoint(cfg); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// isDevEndpoint reports whether endpoint is the blob endpoint of Azurite's
// development account (path style, as Azurite serves it).
func isDevEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return err == nil && strings.Trim(u.Path, "/") == devAccount
}

// IsConnectionString reports whether s looks like an Azure Storage
// connection string: semicolon-separated name=value pairs naming an
// account, an endpoint, or the development storage
// ("DefaultEndpointsProtocol=https;AccountName=…",
// "UseDevelopmentStorage=true").
func IsConnectionString(s string) bool {
	for _, field := range strings.Split(s, ";") {
		name, _, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "defaultendpointsprotocol", "accountname", "accountkey", "blobendpoint", "usedevelopmentstorage", "sharedaccesssignature":
			return true
		}
	}
	return false
}

// connectionString holds the parts of a connection string that the blob
// service needs.
type connectionString struct {
	serviceURL  string // with a trailing slash, no query
	accountName string
	accountKey  string
	sas         string // without the leading "?"
}

// parseConnectionString parses an Azure Storage connection string. Names
// are case-insensitive; names other than those of the blob service (the
// queue and table endpoints, say) are ignored. "UseDevelopmentStorage=true"
// stands for Azurite's development account on 127.0.0.1:10000. Errors never
// repeat a value.
func parseConnectionString(s string) (connectionString, error) {
	fields := map[string]string{}
	for _, field := range strings.Split(s, ";") {
		if strings.TrimSpace(field) == "" {
			continue
		}
		name, value, ok := strings.Cut(field, "=")
		if !ok {
			return connectionString{}, intake.Errorf(intake.EINVALID, "azure connection string: a field is not name=value")
		}
		fields[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	if dev, ok := fields["usedevelopmentstorage"]; ok {
		if !strings.EqualFold(dev, "true") {
			return connectionString{}, intake.Errorf(intake.EINVALID, "azure connection string: UseDevelopmentStorage must be true")
		}
		fields["accountname"], fields["accountkey"] = devAccount, devKey
		if fields["blobendpoint"] == "" {
			fields["blobendpoint"] = devEndpoint
		}
	}
	cs := connectionString{
		serviceURL:  fields["blobendpoint"],
		accountName: fields["accountname"],
		accountKey:  fields["accountkey"],
		sas:         strings.TrimPrefix(fields["sharedaccesssignature"], "?"),
	}
	if cs.serviceURL == "" {
		if cs.accountName == "" {
			return connectionString{}, intake.Errorf(intake.EINVALID, "azure connection string: needs AccountName or BlobEndpoint")
		}
		proto := fields["defaultendpointsprotocol"]
		if proto == "" {
			proto = "https"
		}
		suffix := fields["endpointsuffix"]
		if suffix == "" {
			suffix = "core.windows.net"
		}
		cs.serviceURL = proto + "://" + cs.accountName + ".blob." + suffix
	}
	if err := checkServiceURL(cs.serviceURL, "connection string's blob endpoint"); err != nil {
		return connectionString{}, err
	}
	if !strings.HasSuffix(cs.serviceURL, "/") {
		cs.serviceURL += "/"
	}
	switch {
	case cs.accountKey != "" && cs.accountName == "":
		return connectionString{}, intake.Errorf(intake.EINVALID, "azure connection string: AccountKey needs AccountName")
	case cs.accountKey == "" && cs.sas == "":
		return connectionString{}, intake.Errorf(intake.EINVALID, "azure connection string: needs AccountKey or SharedAccessSignature")
	}
	return cs, nil
}

// checkServiceURL checks that raw is an absolute http(s) URL with a host
// and no query.
func checkServiceURL(raw, what string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return intake.Errorf(intake.EINVALID, "azure blob store: the %s must be an http(s) URL with a host", what)
	}
	if u.User != nil {
		return intake.Errorf(intake.EINVALID, "azure blob store: the %s must not hold user info", what)
	}
	return nil
}

// endpoint is a resolved Config: where the account is and how to
// authenticate to it.
type endpoint struct {
	serviceURL string // no query
	cred       *container.SharedKeyCredential
	sas        string
}

// resolveEndpoint turns cfg's ConnectionString or ServiceURL into an
// endpoint.
func resolveEndpoint(cfg Config) (endpoint, error) {
	switch {
	case cfg.ConnectionString != "":
		cs, err := parseConnectionString(cfg.ConnectionString)
		if err != nil {
			return endpoint{}, err
		}
		ep := endpoint{serviceURL: cs.serviceURL, sas: cs.sas}
		if cs.accountKey != "" {
			cred, err := container.NewSharedKeyCredential(cs.accountName, cs.accountKey)
			if err != nil {
				// The cause quotes no key, but there is nothing to add.
				return endpoint{}, intake.Errorf(intake.EINVALID, "azure connection string: AccountKey is not valid base64")
			}
			ep.cred, ep.sas = cred, ""
		}
		return ep, nil
	case cfg.ServiceURL != "":
		u, err := url.Parse(cfg.ServiceURL)
		if err != nil {
			return endpoint{}, intake.Errorf(intake.EINVALID, "azure blob store: the service URL is malformed")
		}
		sas := u.RawQuery
		u.RawQuery, u.ForceQuery = "", false
		if err := checkServiceURL(u.String(), "service URL"); err != nil {
			return endpoint{}, err
		}
		if sas == "" {
			return endpoint{}, intake.Errorf(intake.EINVALID, "azure blob store: the service URL needs a SAS token as its query (sv=…&sig=…)")
		}
		return endpoint{serviceURL: u.String(), sas: sas}, nil
	default:
		return endpoint{}, intake.Errorf(intake.EINVALID,
			"azure blob store: no credentials: set a connection string (AZURE_BLOB_CONN) or a URL with a SAS token")
	}
}

// containerClient returns the SDK client of the named container.
func (ep endpoint) containerClient(name string, opts *container.ClientOptions) (*container.Client, error) {
	u := runtime.JoinPaths(ep.serviceURL, name)
	if ep.cred != nil {
		c, err := container.NewClientWithSharedKeyCredential(u, ep.cred, opts)
		if err != nil {
			return nil, intake.Errorf(intake.EINVALID, "azure blob store: cannot build a client for container %q", name)
		}
		return c, nil
	}
	c, err := container.NewClientWithNoCredential(u+"?"+ep.sas, opts)
	if err != nil {
		return nil, intake.Errorf(intake.EINVALID, "azure blob store: cannot build a client for container %q", name)
	}
	return c, nil
}

// validateContainer checks Azure's container naming rules: 3 to 63
// lowercase letters, digits and single hyphens, starting and ending with a
// letter or digit.
func validateContainer(name string) error {
	ok := len(name) >= 3 && len(name) <= 63 && name[0] != '-' && name[len(name)-1] != '-' && !strings.Contains(name, "--")
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			ok = false
		}
	}
	if !ok {
		return intake.Errorf(intake.EINVALID,
			"azure container name %q is invalid: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit", name)
	}
	return nil
}

// String describes c with its secrets (the account key, SAS tokens)
// redacted, so that a Config can be printed or logged safely.
func (c Config) String() string {
	return fmt.Sprintf("azureblob.Config{ConnectionString:%q ServiceURL:%q Container:%q CreateContainer:%t BlockSize:%d MaxRetries:%d TryTimeout:%s}",
		redact.String(c.ConnectionString), redact.String(c.ServiceURL), c.Container, c.CreateContainer, c.BlockSize, c.MaxRetries, c.TryTimeout)
}

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("connection_string", redact.String(c.ConnectionString)),
		slog.String("service_url", redact.String(c.ServiceURL)),
		slog.String("container", c.Container),
		slog.Bool("create_container", c.CreateContainer),
		slog.Int64("block_size", c.BlockSize),
	)
}
