package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/intake-dev/intake/internal/telemetry"
)

// Set by the linker: -ldflags "-X main.version=… -X main.revision=… -X main.date=…".
var (
	version  = "dev"
	revision = ""
	date     = ""
)

// buildInfo returns the version stamped by the linker, falling back to the
// VCS information the Go toolchain records.
func buildInfo() telemetry.BuildInfo {
	bi := telemetry.BuildInfo{Version: version, Revision: revision, Date: date}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && bi.Revision == "":
				bi.Revision = s.Value
			case s.Key == "vcs.time" && bi.Date == "":
				bi.Date = s.Value
			}
		}
	}
	return bi
}

func runVersion(stdout io.Writer) error {
	bi := buildInfo()
	_, err := fmt.Fprintf(stdout, "intake %s (revision %s, built %s, %s)\n",
		bi.Version, orUnknown(bi.Revision), orUnknown(bi.Date), runtime.Version())
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
