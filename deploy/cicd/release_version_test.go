package cicd

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/testenv"
)

// TestReleaseVersion runs scripts/release-version.sh in a repository with
// a release tag behind HEAD and checks the version of each kind of ref.
func TestReleaseVersion(t *testing.T) {
	t.Parallel()
	gitPath := testenv.LookPath(t, "git", "apt-get install git")
	bash := testenv.LookPath(t, "bash", "install bash")
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gitPath, args...)
		cmd.Dir = dir
		cmd.Env = append(testenv.CleanEnviron("BG_", "SMOKE_"), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("commit", "-q", "--allow-empty", "-m", "one")
	git("tag", "v1.4.2")
	git("commit", "-q", "--allow-empty", "-m", "two")
	sha := git("rev-parse", "HEAD")
	script, err := filepath.Abs(filepath.Join(repoRoot, "scripts", "release-version.sh"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		ref, want, fail string
	}{
		{ref: "refs/tags/v1.5.0", want: "1.5.0"},
		{ref: "refs/tags/v2.0.0-rc.1", want: "2.0.0-rc.1"},
		{ref: "refs/heads/main", want: "1.4.3-main.57.g" + sha[:7]},
		{ref: "refs/heads/Feature/Blue_Green", want: "1.4.3-feature-blue-green.57.g" + sha[:7]},
		{ref: "refs/heads/2024", want: "1.4.3-branch-2024.57.g" + sha[:7]},
		{ref: "refs/pull/12/merge", want: "1.4.3-pr.12.57.g" + sha[:7]},
		{ref: "refs/tags/v1.5", fail: "release-version: tag v1.5 is not vMAJOR.MINOR.PATCH[-PRERELEASE]"},
		{ref: "refs/tags/v01.2.3", fail: "release-version: tag v01.2.3 is not vMAJOR.MINOR.PATCH[-PRERELEASE]"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bash, script)
			cmd.Dir = dir
			cmd.Env = append(testenv.CleanEnviron("BG_", "SMOKE_"), "GITHUB_REF="+tt.ref, "GITHUB_SHA="+sha, "GITHUB_RUN_NUMBER=57",
				"GITHUB_REPOSITORY_OWNER=Intake-Dev", "GIT_CONFIG_GLOBAL=/dev/null")
			cmd.Stderr = &strings.Builder{}
			out, err := cmd.Output()
			stderr := strings.TrimSpace(cmd.Stderr.(*strings.Builder).String())
			if tt.fail != "" {
				if err == nil || stderr != tt.fail {
					t.Fatalf("err %v, stderr %q, want exit 1 and %q", err, stderr, tt.fail)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			got := map[string]string{}
			for line := range strings.Lines(string(out)) {
				k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
				got[k] = v
			}
			if got["version"] != tt.want {
				t.Errorf("version %q, want %q", got["version"], tt.want)
			}
			if got["api"] != "ghcr.io/intake-dev/intake-api" || got["worker"] != "ghcr.io/intake-dev/intake-worker" {
				t.Errorf("repositories %q %q", got["api"], got["worker"])
			}
			if got["created"] == "" {
				t.Error("no created timestamp")
			}
		})
	}
}
