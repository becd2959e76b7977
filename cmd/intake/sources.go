package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/config"
	apisource "github.com/intake-dev/intake/internal/source/api"
	"github.com/intake-dev/intake/internal/source/database"
	"github.com/intake-dev/intake/internal/source/file"
	"github.com/intake-dev/intake/internal/source/filings"
)

// newSources builds the registry of every source type, configured by the
// operator. A source the operator has not configured (the file source
// without INTAKE_SOURCE_FILE_ROOT) is still registered, so that a job asking
// for it gets a clear 422 rather than "unknown source_type".
func newSources(cfg *config.Config, logger *slog.Logger) (intake.Sources, error) {
	fileSrc, err := file.New(file.Options{Root: cfg.Sources.FileRoot, Logger: logger})
	if err != nil {
		return nil, openError("INTAKE_SOURCE_FILE_ROOT", err)
	}
	secrets := make(map[string]apisource.Secret, len(cfg.Sources.Secrets))
	for name, sec := range cfg.Sources.Secrets {
		secrets[name] = apisource.Secret{Value: sec.Value, Hosts: sec.Hosts}
	}
	apiSrc, err := apisource.New(apisource.Options{Allow: cfg.Sources.HTTPAllow, Secrets: secrets, Logger: logger})
	if err != nil {
		return nil, openError("INTAKE_SOURCE_HTTP_ALLOW", err)
	}
	dbSrc, err := database.New(database.Options{Connections: cfg.Sources.DBConnections, Logger: logger})
	if err != nil {
		_ = apiSrc.Close()
		return nil, openError("INTAKE_SOURCE_DB_<NAME>_URL", err)
	}
	return intake.NewSources(
		filings.New(cfg.Sources.FilingsDelay, filings.WithDay(cfg.Sources.FilingsDay)),
		apiSrc,
		dbSrc,
		fileSrc,
	), nil
}

// newDemoJob makes one job of POST /create-job: a filings job for a random
// company.
func newDemoJob() (api.DemoJob, error) {
	// Demo companies, not secrets: math/rand is the right tool.
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) //nolint:gosec // G404: not security-sensitive
	cin, name := filings.NewCompany(rnd)
	config, err := json.Marshal(filings.Config{CIN: cin, CompanyName: name})
	if err != nil {
		return api.DemoJob{}, fmt.Errorf("encode filings config: %w", err)
	}
	return api.DemoJob{SourceType: filings.SourceType, Config: config, CIN: cin, CompanyName: name}, nil
}
