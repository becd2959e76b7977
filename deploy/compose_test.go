// Package deploy holds the deployment files' tests: docker-compose.yml and
// its MongoDB override are loaded with Docker Compose's own loader
// (compose-go) and .env.example as the only environment, and the properties
// the Compose stack promises are asserted per service.
package deploy

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile = "../docker-compose.yml"
	mongoFile   = "compose/mongo.yml"
	envExample  = "../.env.example"
)

// load returns the project the files describe, with .env.example as the
// whole environment (the test's own environment is not consulted).
func load(t *testing.T, files ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(".."),
		cli.WithEnvFiles(envExample),
		cli.WithDotEnv,
		cli.WithName("intake"),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return p
}

// want describes one service; the zero value of a field is the default the
// table states in its comment.
type want struct {
	networks []string
	// longRunning services have a healthcheck and restart: unless-stopped;
	// the one-shot migrate has neither.
	longRunning bool
	// root: the container starts as uid 0 (the reason is in the compose
	// file); every other service names a non-root user.
	root bool
	// capAdd: the exact capabilities added back after cap_drop: [ALL].
	capAdd []string
	// ports: the published ports as HOST_IP:PUBLISHED:TARGET ("" host IP
	// = every interface).
	ports []string
	// volumes: named volumes as NAME:TARGET.
	volumes []string
	// secrets the service receives.
	secrets  []string
	replicas int
}

var services = map[string]want{
	"nginx": {networks: []string{"edge"}, longRunning: true,
		ports:   []string{":8080:8080"},
		volumes: []string{"nginx-conf:/etc/nginx/conf.d"}},
	"api": {networks: []string{"backend", "edge", "monitoring"}, longRunning: true,
		secrets: []string{"api_keys", "blob_url", "database_url", "redis_url"}, replicas: 2},
	"worker": {networks: []string{"backend", "egress", "monitoring"}, longRunning: true,
		secrets: []string{"blob_url", "database_url", "redis_url"}, replicas: 2},
	"migrate": {networks: []string{"backend"},
		secrets: []string{"database_url"}},
	"postgres": {networks: []string{"backend"}, longRunning: true, root: true,
		capAdd:  []string{"CHOWN", "DAC_READ_SEARCH", "FOWNER", "SETGID", "SETUID"},
		volumes: []string{"postgres-data:/var/lib/postgresql/data"},
		secrets: []string{"postgres_password"}},
	"redis": {networks: []string{"backend"}, longRunning: true,
		volumes: []string{"redis-data:/data"}, secrets: []string{"redis_conf"}},
	"azurite": {networks: []string{"backend"}, longRunning: true, root: true,
		volumes: []string{"azurite-data:/data"}, secrets: []string{"azurite_accounts"}},
	"prometheus": {networks: []string{"monitoring"}, longRunning: true,
		ports:   []string{"127.0.0.1:9090:9090"},
		volumes: []string{"prometheus-data:/prometheus"}},
	"alertmanager": {networks: []string{"monitoring"}, longRunning: true,
		ports:   []string{"127.0.0.1:9093:9093"},
		volumes: []string{"alertmanager-data:/alertmanager"}},
	"grafana": {networks: []string{"monitoring"}, longRunning: true,
		ports:   []string{"127.0.0.1:3000:3000"},
		volumes: []string{"grafana-data:/var/lib/grafana"},
		secrets: []string{"grafana_admin_password"}},
}

func TestComposeServices(t *testing.T) {
	p := load(t, composeFile)
	if got, wantNames := sorted(p.ServiceNames()), sorted(keys(services)); !slices.Equal(got, wantNames) {
		t.Fatalf("services = %v, want %v", got, wantNames)
	}
	for name, w := range services {
		t.Run(name, func(t *testing.T) {
			checkService(t, p, p.Services[name], w)
		})
	}
}

func checkService(t *testing.T, p *types.Project, s types.ServiceConfig, w want) {
	t.Helper()

	// Image pinned: a tag that names a version (intake's own images are
	// tagged with INTAKE_VERSION).
	if !pinned(s.Image) {
		t.Errorf("image %q is not pinned to a version tag", s.Image)
	}

	// Hardening.
	if !s.ReadOnly {
		t.Error("read_only is not set")
	}
	if len(s.Tmpfs) == 0 || !slices.ContainsFunc(s.Tmpfs, func(m string) bool { return strings.HasPrefix(m, "/tmp") }) {
		t.Errorf("tmpfs = %v, want /tmp on the read-only root", s.Tmpfs)
	}
	if !slices.Equal(s.CapDrop, []string{"ALL"}) {
		t.Errorf("cap_drop = %v, want [ALL]", s.CapDrop)
	}
	if got := sorted(s.CapAdd); !slices.Equal(got, w.capAdd) {
		t.Errorf("cap_add = %v, want %v", got, w.capAdd)
	}
	if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("security_opt = %v, want no-new-privileges:true", s.SecurityOpt)
	}
	uid, _, _ := strings.Cut(s.User, ":")
	switch {
	case w.root && uid != "" && uid != "0" && uid != "root":
		t.Errorf("user = %q, but the table says this service starts as root; update the table", s.User)
	case !w.root && (uid == "" || uid == "0" || uid == "root"):
		t.Errorf("user = %q, want a non-root user", s.User)
	}
	if w.root && len(s.CapAdd) == 0 && s.Name != "azurite" {
		t.Error("a root service without capabilities needs its reason in the table")
	}

	// Operations.
	if s.Logging == nil || s.Logging.Driver != "json-file" ||
		s.Logging.Options["max-size"] == "" || s.Logging.Options["max-file"] == "" {
		t.Errorf("logging = %+v, want json-file with max-size and max-file", s.Logging)
	}
	if s.Deploy == nil || s.Deploy.Resources.Limits == nil ||
		s.Deploy.Resources.Limits.NanoCPUs <= 0 || s.Deploy.Resources.Limits.MemoryBytes <= 0 {
		t.Error("deploy.resources.limits needs cpus and memory")
	}
	replicas := 0
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		replicas = *s.Deploy.Replicas
	}
	if replicas != w.replicas {
		t.Errorf("replicas = %d, want %d", replicas, w.replicas)
	}
	if w.longRunning {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 {
			t.Errorf("healthcheck = %+v, want one", s.HealthCheck)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("restart = %q, want unless-stopped", s.Restart)
		}
	} else {
		if s.Restart != types.RestartPolicyNo {
			t.Errorf("restart = %q, want no (one-shot)", s.Restart)
		}
	}

	// Networks, ports, volumes.
	if got := sorted(keys(s.Networks)); !slices.Equal(got, w.networks) {
		t.Errorf("networks = %v, want %v", got, w.networks)
	}
	var ports []string
	for _, pc := range s.Ports {
		ports = append(ports, pc.HostIP+":"+pc.Published+":"+itoa(pc.Target))
	}
	if !slices.Equal(ports, w.ports) {
		t.Errorf("ports = %v, want %v", ports, w.ports)
	}
	var volumes []string
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("volume %q is not declared at the top level", v.Source)
			}
			volumes = append(volumes, v.Source+":"+v.Target)
		case types.VolumeTypeBind:
			if !v.ReadOnly {
				t.Errorf("bind mount %s is writable, want :ro", v.Target)
			}
		default:
			t.Errorf("volume %+v of type %s", v, v.Type)
		}
	}
	if !slices.Equal(sorted(volumes), sorted(w.volumes)) {
		t.Errorf("named volumes = %v, want %v", volumes, w.volumes)
	}

	// Secrets: received as compose secrets (files), referenced by *_FILE
	// variables, never as values in the environment.
	var secrets []string
	for _, sc := range s.Secrets {
		secrets = append(secrets, sc.Source)
		if _, ok := p.Secrets[sc.Source]; !ok {
			t.Errorf("secret %q is not declared at the top level", sc.Source)
		}
	}
	if got := sorted(secrets); !slices.Equal(got, w.secrets) {
		t.Errorf("secrets = %v, want %v", got, w.secrets)
	}
	for k, v := range s.Environment {
		if v == nil {
			continue
		}
		if strings.HasSuffix(k, "_FILE") {
			name, ok := strings.CutPrefix(*v, "/run/secrets/")
			if !ok || !slices.Contains(secrets, name) {
				t.Errorf("%s=%s does not name one of the service's secrets %v", k, *v, secrets)
			}
			continue
		}
		if secretLike.MatchString(k) || secretValue.MatchString(*v) {
			t.Errorf("environment %s looks like a secret given as a value; use a *_FILE secret", k)
		}
	}
}

var (
	secretLike  = regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|API_KEYS?|DATABASE_URL|BLOB_URL|REDIS_URL|ACCOUNTS)$`)
	secretValue = regexp.MustCompile(`(?i)(AccountKey=|://[^/@\s]*:[^/@\s]*@|requirepass)`)
)

// pinned reports whether an image reference carries a version tag (or a
// digest): not untagged, not latest, not a bare major version.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "" && tag != "latest" && regexp.MustCompile(`^v?\d+\.\d+|^dev$`).MatchString(tag)
}

// TestComposeWiring checks what ties the services together.
func TestComposeWiring(t *testing.T) {
	p := load(t, composeFile)
	svc := func(name string) types.ServiceConfig { return p.Services[name] }

	if !p.Networks["backend"].Internal {
		t.Error("network backend must be internal")
	}
	for _, n := range []string{"edge", "monitoring", "egress"} {
		if p.Networks[n].Internal {
			t.Errorf("network %s is internal, but publishes ports or leads out", n)
		}
	}

	// Build targets of the Dockerfile.
	for name, target := range map[string]string{"api": "api", "worker": "worker", "migrate": "api"} {
		b := svc(name).Build
		if b == nil || b.Target != target || filepath.Base(b.Context) != filepath.Base(mustAbs(t, "..")) {
			t.Errorf("%s build = %+v, want context . target %s", name, b, target)
		}
	}

	// Commands and healthchecks of intake's processes.
	checkCmd := func(name string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	checkCmd("api command", svc("api").Command, "serve")
	checkCmd("worker command", svc("worker").Command, "work")
	checkCmd("migrate command", svc("migrate").Command, "migrate")
	checkCmd("api healthcheck", svc("api").HealthCheck.Test, "CMD", "/intake", "healthcheck")
	checkCmd("worker healthcheck", svc("worker").HealthCheck.Test, "CMD", "/intake", "healthcheck", "http://127.0.0.1:9100/health")

	// migrate gates api and worker; datastores are healthy first.
	for _, name := range []string{"api", "worker"} {
		d := svc(name).DependsOn
		if d["migrate"].Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s depends_on migrate = %+v, want service_completed_successfully", name, d["migrate"])
		}
		for _, ds := range []string{"postgres", "redis", "azurite"} {
			if d[ds].Condition != types.ServiceConditionHealthy {
				t.Errorf("%s depends_on %s = %+v, want service_healthy", name, ds, d[ds])
			}
		}
	}
	if svc("migrate").DependsOn["postgres"].Condition != types.ServiceConditionHealthy {
		t.Error("migrate must wait for a healthy postgres")
	}

	env := func(service, key string) string {
		if v := svc(service).Environment[key]; v != nil {
			return *v
		}
		return ""
	}
	if env("worker", "INTAKE_REDIS_URL_FILE") == "" || env("api", "INTAKE_REDIS_URL_FILE") == "" {
		t.Error("api and worker need INTAKE_REDIS_URL_FILE (Redis Streams dispatch)")
	}
	if env("api", "INTAKE_API_KEYS_FILE") == "" {
		t.Error("api needs INTAKE_API_KEYS_FILE (serve refuses to start without keys)")
	}
	if env("api", "INTAKE_HTTP_ADDR") != "0.0.0.0:8000" || env("worker", "INTAKE_METRICS_ADDR") != "0.0.0.0:9100" {
		t.Error("api must listen on :8000 and the worker's metrics on :9100")
	}
	if env("postgres", "POSTGRES_PASSWORD_FILE") != "/run/secrets/postgres_password" {
		t.Error("postgres must read its password from the secret")
	}

	// nginx: the unprivileged image, the template directory, the variables
	// the template uses.
	ng := svc("nginx")
	if !strings.HasPrefix(ng.Image, "nginxinc/nginx-unprivileged:") {
		t.Errorf("nginx image %q, want nginxinc/nginx-unprivileged", ng.Image)
	}
	checkBind(t, ng, "deploy/nginx/templates", "/etc/nginx/templates")
	// NGINX_ENTRYPOINT_LOCAL_RESOLVERS: the entrypoint exports the
	// nameservers of /etc/resolv.conf as NGINX_LOCAL_RESOLVERS (Docker's
	// 127.0.0.11 or Podman's aardvark-dns), so no engine's address is
	// written here.
	for k, v := range map[string]string{"INTAKE_UPSTREAM": "api:8000", "NGINX_ENTRYPOINT_LOCAL_RESOLVERS": "1", "NGINX_PORT": "8080"} {
		if env("nginx", k) != v {
			t.Errorf("nginx %s = %q, want %q", k, env("nginx", k), v)
		}
	}
	// Every variable the templates use is set (the image's envsubst would
	// leave an unset one in the config verbatim).
	templates, _ := filepath.Glob("nginx/templates/*.template")
	more, _ := filepath.Glob("nginx/templates/*/*.template")
	templates = append(templates, more...)
	if len(templates) == 0 {
		t.Error("no templates under deploy/nginx/templates")
	}
	for _, f := range templates {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`).FindAllStringSubmatch(string(b), -1) {
			if m[1] == "NGINX_LOCAL_RESOLVERS" && env("nginx", "NGINX_ENTRYPOINT_LOCAL_RESOLVERS") != "" {
				continue // exported by the entrypoint
			}
			if env("nginx", m[1]) == "" {
				t.Errorf("%s uses ${%s}, which the nginx service does not set", f, m[1])
			}
		}
	}
	if ng.DependsOn["api"].Condition != types.ServiceConditionHealthy {
		t.Error("nginx must wait for a healthy api")
	}

	// azurite: pinned Microsoft image, blob service only, flags intake needs.
	az := svc("azurite")
	if !strings.HasPrefix(az.Image, "mcr.microsoft.com/azure-storage/azurite:") {
		t.Errorf("azurite image %q", az.Image)
	}
	cmd := strings.Join(az.Command, " ")
	for _, f := range []string{"azurite-blob", "--skipApiVersionCheck", "--blobHost 0.0.0.0", "--location /data"} {
		if !strings.Contains(cmd, f) {
			t.Errorf("azurite command %q lacks %q", cmd, f)
		}
	}

	// Monitoring configuration from the repository.
	checkBind(t, svc("prometheus"), "deploy/prometheus", "/etc/prometheus")
	checkBind(t, svc("grafana"), "deploy/grafana/provisioning", "/etc/grafana/provisioning")
	checkBind(t, svc("grafana"), "deploy/grafana/dashboards", "/etc/grafana/dashboards")

	// Secrets are files (under INTAKE_SECRETS_DIR), never inline content or
	// the compose process's environment.
	for name, s := range p.Secrets {
		if s.File == "" || s.Content != "" || s.Environment != "" {
			t.Errorf("secret %s: want a file, got %+v", name, s)
		}
		if !strings.HasPrefix(s.File, mustAbs(t, "../deploy/compose/secrets")+string(filepath.Separator)) {
			t.Errorf("secret %s file %s is not under INTAKE_SECRETS_DIR", name, s.File)
		}
	}
}

func checkBind(t *testing.T, s types.ServiceConfig, source, target string) {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			if v.Source != mustAbs(t, filepath.Join("..", source)) {
				t.Errorf("%s: %s is mounted from %s, want ./%s", s.Name, target, v.Source, source)
			}
			return
		}
	}
	t.Errorf("%s: no bind mount of ./%s at %s", s.Name, source, target)
}

// TestComposeMongoOverride loads the stack with deploy/compose/mongo.yml:
// the store is MongoDB 7 and PostgreSQL no longer starts.
func TestComposeMongoOverride(t *testing.T) {
	p := load(t, composeFile, mongoFile)

	wantServices := sorted(append(slices.DeleteFunc(keys(services), func(s string) bool { return s == "postgres" }), "mongo"))
	if got := sorted(p.ServiceNames()); !slices.Equal(got, wantServices) {
		t.Fatalf("services = %v, want %v", got, wantServices)
	}
	if _, ok := p.DisabledServices["postgres"]; !ok {
		t.Error("postgres should be disabled (profile postgres) under the override")
	}
	checkService(t, p, p.Services["mongo"], want{
		networks: []string{"backend"}, longRunning: true,
		volumes: []string{"mongo-data:/data/db", "mongo-config:/data/configdb"},
		secrets: []string{"mongo_password"},
	})
	if img := p.Services["mongo"].Image; !strings.HasPrefix(img, "mongo:7.") {
		t.Errorf("mongo image %q, want mongo:7.x", img)
	}

	// The database_url secret every intake service reads now holds the
	// MongoDB URL.
	if f := p.Secrets["database_url"].File; filepath.Base(f) != "mongo_database_url" {
		t.Errorf("database_url secret file = %s, want …/mongo_database_url", f)
	}
	for _, name := range []string{"api", "worker", "migrate"} {
		s := p.Services[name]
		if v := s.Environment["INTAKE_DATABASE_URL_FILE"]; v == nil || *v != "/run/secrets/database_url" {
			t.Errorf("%s INTAKE_DATABASE_URL_FILE = %v", name, v)
		}
		if _, ok := s.DependsOn["postgres"]; ok {
			t.Errorf("%s still depends on postgres", name)
		}
		if s.DependsOn["mongo"].Condition != types.ServiceConditionHealthy {
			t.Errorf("%s must wait for a healthy mongo", name)
		}
	}
	for _, name := range []string{"api", "worker"} {
		if p.Services[name].DependsOn["migrate"].Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s lost its migrate gate under the override", name)
		}
	}

	// The rest of the stack is unchanged.
	base := load(t, composeFile)
	for _, name := range []string{"nginx", "redis", "azurite", "prometheus", "grafana"} {
		if p.Services[name].Image != base.Services[name].Image {
			t.Errorf("%s changed under the override", name)
		}
	}
}

// TestEnvExample checks that .env.example documents exactly the variables
// the compose files read, each with a comment.
func TestEnvExample(t *testing.T) {
	used := map[string]bool{}
	ref := regexp.MustCompile(`\$\{([A-Z0-9_]+)`)
	for _, f := range []string{composeFile, mongoFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}

	fh, err := os.Open(envExample)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	documented := map[string]bool{}
	commented := false
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#"):
			commented = true
		case line == "":
			commented = false
		default:
			name, _, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf(".env.example: %q is not NAME=VALUE", line)
				continue
			}
			if !commented {
				t.Errorf(".env.example: %s has no comment above it", name)
			}
			documented[name] = true
		}
	}
	for v := range used {
		if !documented[v] {
			t.Errorf("compose reads %s, which .env.example does not document", v)
		}
	}
	for v := range documented {
		if !used[v] {
			t.Errorf(".env.example documents %s, which no compose file reads", v)
		}
	}
}

// TestSecretsScript runs deploy/compose/secrets.sh into a temporary
// directory and loads the stack with it: every secret file exists, the
// URLs carry the generated passwords, and a rerun changes nothing.
func TestSecretsScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is missing")
	}
	dir := filepath.Join(t.TempDir(), "secrets")
	run := func() {
		t.Helper()
		out, err := exec.Command("bash", "compose/secrets.sh", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("secrets.sh: %v\n%s", err, out)
		}
	}
	run()
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	first := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		first[e.Name()] = read(e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, want 0644", e.Name(), info.Mode().Perm())
		}
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("secrets directory: %v %v, want mode 0700", info.Mode(), err)
	}

	for file, prefix := range map[string]string{
		"database_url":       "postgres://intake:" + read("postgres_password") + "@postgres:5432/intake?",
		"mongo_database_url": "mongodb://intake:" + read("mongo_password") + "@mongo:27017/intake?",
		"redis_url":          "redis://:" + read("redis_password") + "@redis:6379/",
		"redis.conf":         "requirepass " + read("redis_password"),
		"azurite_accounts":   "intake:" + read("azurite_key"),
		"blob_url":           "DefaultEndpointsProtocol=http;AccountName=intake;AccountKey=" + read("azurite_key") + ";BlobEndpoint=http://azurite:10000/intake;",
	} {
		if got := read(file); !strings.HasPrefix(got, prefix) {
			t.Errorf("%s = %q, want prefix %q", file, got, prefix)
		}
	}
	for _, name := range []string{"postgres_password", "mongo_password", "redis_password", "api_keys", "grafana_admin_password"} {
		if len(read(name)) < 24 {
			t.Errorf("%s is shorter than 24 characters", name)
		}
	}

	run()
	for name, v := range first {
		if read(name) != v {
			t.Errorf("rerun changed %s", name)
		}
	}

	// Every secret of both stacks is a file the script wrote.
	t.Setenv("INTAKE_SECRETS_DIR", dir)
	for _, files := range [][]string{{composeFile}, {composeFile, mongoFile}} {
		opts, err := cli.NewProjectOptions(files, cli.WithWorkingDirectory(".."),
			cli.WithEnv([]string{"INTAKE_SECRETS_DIR=" + dir}), cli.WithName("intake"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for name, s := range p.Secrets {
			if _, err := os.Stat(s.File); err != nil {
				t.Errorf("%v: secret %s: %v", files, name, err)
			}
		}
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
