package config

import (
	"bytes"
	"fmt"
	"strings"
)

// Markdown renders docs/CONFIG.md from the Config struct's tags and the
// defaults of Default.
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Configuration\n\n")
	b.WriteString("<!-- Generated from internal/config by `go test ./internal/config -run TestConfigDoc -update`. Do not edit. -->\n\n")
	b.WriteString("intake reads its configuration from the environment only. An invalid value stops the process with one line naming the variable and exit code 2.\n\n")
	b.WriteString("Variables marked *secret* may instead be given as `<NAME>_FILE`, the path of a file holding the value (Docker and Kubernetes secrets); a trailing newline is dropped. Their values never appear in logs, errors or responses. Aliases are the names earlier deployments used; precedence is `INTAKE_*` (or its `_FILE`), then each alias, then the default. A variable set to the empty string counts as unset.\n")
	d := Default()
	for _, s := range d.sections() {
		fmt.Fprintf(&b, "\n## %s\n\n", s.title)
		b.WriteString("| Variable | Default | Alias | Secret | Description |\n|---|---|---|---|---|\n")
		for _, f := range s.fields {
			def := "—"
			if f.Default != "" {
				def = "`" + f.Default + "`"
			}
			alias := "—"
			if len(f.Aliases) > 0 {
				alias = "`" + strings.Join(f.Aliases, "`, `") + "`"
			}
			secret := ""
			if f.Secret {
				secret = "secret"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Name, def, alias, secret, strings.ReplaceAll(f.Desc, "|", "\\|"))
		}
	}
	b.WriteString(`
## Named secrets and connections

Two families of variables are named by the operator:

| Variable | Secret | Description |
|---|---|---|
| ` + "`INTAKE_SECRET_<NAME>`" + ` (or ` + "`_FILE`" + `) | secret | A value the api source may put in a request header when a job's config references it by NAME. Never shown in job configs, responses or logs. |
| ` + "`INTAKE_SECRET_<NAME>_HOSTS`" + ` | | Required with each secret: comma-separated host names it may be sent to. A request to any other host (redirects included) does not get it. |
| ` + "`INTAKE_SOURCE_DB_<NAME>_URL`" + ` (or ` + "`_FILE`" + `) | secret | A database the database source may query when a job's config names the connection NAME. Jobs never carry a DSN. |

NAME is upper case letters, digits and underscores.
`)
	return b.Bytes()
}
