package intake

import (
	"slices"
	"testing"
)

func TestInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fields []FieldError
		want   string
	}{
		{"no fields", nil, "invalid api config"},
		{"whole config", []FieldError{{Message: "must be a JSON object"}}, "invalid api config: must be a JSON object"},
		{"two fields", []FieldError{
			{Location: "url", Message: "is required"},
			{Location: "pagination.mode", Message: "must be one of auto, link", Value: "x"},
		}, "invalid api config: url: is required; pagination.mode: must be one of auto, link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Invalid("api config", tt.fields...)
			if err.Message != tt.want {
				t.Errorf("Message = %q, want %q", err.Message, tt.want)
			}
			if ErrorCode(err) != EINVALID || !IsPermanent(err) {
				t.Errorf("code %q, permanent %v; want EINVALID and permanent", ErrorCode(err), IsPermanent(err))
			}
			if !slices.Equal(err.Fields, tt.fields) {
				t.Errorf("Fields = %+v, want %+v", err.Fields, tt.fields)
			}
		})
	}
}
