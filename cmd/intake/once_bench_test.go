package main

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

// BenchmarkWorkOnce measures KEDA's mode with nothing to claim: one
// `intake work --once` process, from start to exit, on a migrated empty
// store. It reports the median and 90th percentile wall time and the
// largest peak RSS (ru_maxrss) of the runs:
//
//	go test -run '^$' -bench WorkOnce -benchtime 40x ./cmd/intake/
func BenchmarkWorkOnce(b *testing.B) {
	bin := testenv.IntakeBinary(b)
	stores := map[string]func(b *testing.B) []string{
		"sqlite": func(b *testing.B) []string {
			dir := b.TempDir()
			return []string{
				"INTAKE_DATABASE_URL=sqlite://" + filepath.ToSlash(filepath.Join(dir, "intake.db")),
				"INTAKE_BLOB_URL=file://" + filepath.ToSlash(filepath.Join(dir, "blobs")),
			}
		},
		"postgres": func(b *testing.B) []string {
			admin := os.Getenv("INTAKE_TEST_POSTGRES_URL")
			if admin == "" {
				b.Skip("INTAKE_TEST_POSTGRES_URL is not set: " + testenv.ServicesHow)
			}
			name := uniqueName("intake_once_")
			pgExec(b, admin, "CREATE DATABASE "+name)
			b.Cleanup(func() { pgExec(b, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
			u, err := url.Parse(admin)
			if err != nil {
				b.Fatal(err)
			}
			u.Path = "/" + name
			return []string{
				"INTAKE_DATABASE_URL=" + u.String(),
				"INTAKE_BLOB_URL=file://" + filepath.ToSlash(filepath.Join(b.TempDir(), "blobs")),
			}
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			env := append(testenv.CleanEnviron(), "INTAKE_LOG_LEVEL=warn")
			env = append(env, stores[name](b)...)
			if out, err := command(bin, env, "migrate").CombinedOutput(); err != nil {
				b.Fatalf("migrate: %v\n%s", err, out)
			}
			walls := make([]time.Duration, 0, b.N)
			var maxRSS int64
			for b.Loop() {
				cmd := command(bin, env, "work", "--once")
				start := time.Now()
				out, err := cmd.CombinedOutput()
				walls = append(walls, time.Since(start))
				if err != nil {
					b.Fatalf("work --once: %v\n%s", err, out)
				}
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					maxRSS = max(maxRSS, ru.Maxrss) // KiB on Linux
				}
			}
			slices.Sort(walls)
			b.ReportMetric(float64(walls[len(walls)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(walls[len(walls)*9/10].Microseconds())/1000, "p90-ms")
			b.ReportMetric(float64(maxRSS)/1024, "max-rss-MB")
		})
	}
}

// command is exec.Command with the environment env.
func command(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return cmd
}
