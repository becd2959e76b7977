package main

import (
	"context"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/testenv"
)

// TestKeywordValueDSNNeverPrinted gives migrate (and the dispatcher that
// reuses the store's URL) libpq keyword/value connection strings, which
// intake does not accept, and checks that no output names the password.
func TestKeywordValueDSNNeverPrinted(t *testing.T) {
	t.Parallel()
	const secret = "S3CRETpw"
	for _, dsn := range []string{
		"host=127.0.0.1 password=" + secret + " dbname=x",
		"host=127.0.0.1 password='" + secret + " with space' dbname=x",
		"password = " + secret + " host=127.0.0.1",
		"host=127.0.0.1 sslpassword=" + secret,
		"user=u password=" + secret,
	} {
		t.Run(dsn, func(t *testing.T) {
			t.Parallel()
			for _, args := range [][]string{{"migrate"}, {"work", "--once"}} {
				var out, errb testenv.Buffer
				err := run(context.Background(), args, []string{"INTAKE_DATABASE_URL=" + dsn, "INTAKE_DATA_DIR=" + t.TempDir()}, &out, &errb)
				if err == nil {
					t.Fatalf("%v with a keyword/value DSN succeeded", args)
				}
				for name, text := range map[string]string{"error": err.Error(), "stdout": out.String(), "stderr": errb.String()} {
					if strings.Contains(text, secret) {
						t.Errorf("%v: %s shows the password: %s", args, name, text)
					}
				}
			}
		})
	}
}
