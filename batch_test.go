package intake

import "testing"

func TestBatchSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		total, collected   int
		fraction           Fraction
		unknownBatch, want int
	}{
		{"35 percent of 40", 40, 0, 3500, 0, 14},
		{"float64 would say 62", 180, 0, 3500, 0, 63},
		{"capped by remaining", 40, 35, 3500, 0, 5},
		{"at least one", 2, 0, 3500, 0, 1},
		{"nothing left", 10, 10, 3500, 0, 0},
		{"whole job", 7, 0, 10000, 0, 7},
		{"unknown total", TotalUnknown, 3, 3500, 5, 5},
		{"unknown total at least one", TotalUnknown, 3, 3500, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := BatchSize(tt.total, tt.collected, tt.fraction, tt.unknownBatch); got != tt.want {
				t.Errorf("BatchSize(%d, %d, %v) = %d, want %d", tt.total, tt.collected, tt.fraction, got, tt.want)
			}
		})
	}
}

// TestRunsPerFilingsJob pins the claim in the docs: a filings job (30 to 50
// documents) completes in 3 or 4 runs at 35 %, and 4 exactly for 31, 34 and 37.
func TestRunsPerFilingsJob(t *testing.T) {
	t.Parallel()
	four := map[int]bool{31: true, 34: true, 37: true}
	for total := 30; total <= 50; total++ {
		runs, collected := 0, 0
		for collected < total {
			collected += BatchSize(total, collected, DefaultBatchFraction, 0)
			runs++
		}
		want := 3
		if four[total] {
			want = 4
		}
		if runs != want {
			t.Errorf("total %d: %d runs, want %d", total, runs, want)
		}
	}
}

func TestParseFraction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Fraction
		wantErr bool
	}{
		{"0.35", 3500, false},
		{"1", 10000, false},
		{"0.0001", 1, false},
		{"0", 0, true},
		{"1.5", 0, true},
		{"-0.1", 0, true},
		{"0.00001", 0, true},
		{"abc", 0, true},
		{"NaN", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseFraction(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFraction(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestValidateBlobKey(t *testing.T) {
	t.Parallel()
	good := []string{"a", "jobs/0190/000001-x", "a.b/c_d-e"}
	bad := []string{"", "/abs", "a/../b", "a//b", "..", "a/./b", "a\\b", "a/b/", "sp ace"}
	for _, k := range good {
		if err := ValidateBlobKey(k); err != nil {
			t.Errorf("ValidateBlobKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range bad {
		if err := ValidateBlobKey(k); err == nil {
			t.Errorf("ValidateBlobKey(%q) = nil, want error", k)
		}
	}
	if got := DocumentBlobKey("j", 7, "o"); got != "jobs/j/000007-o" {
		t.Errorf("DocumentBlobKey = %q", got)
	}
}
