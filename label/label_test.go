package label

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestValue(t *testing.T) {
	long := strings.Repeat("a", MaxBytes-1) + "é" // é is 2 bytes: straddles the bound
	for _, tc := range []struct{ name, in, want string }{
		{"valid", "web-7d4b9c", "web-7d4b9c"},
		{"empty", "", ""},
		{"invalid byte", "a\xffb", "a\uFFFDb"},
		{"truncated rune", "ab\xe2\x82", "ab\uFFFD"},
		{"exactly the bound", strings.Repeat("x", MaxBytes), strings.Repeat("x", MaxBytes)},
		{"over the bound", strings.Repeat("x", MaxBytes+100), strings.Repeat("x", MaxBytes)},
		{"cut at a rune boundary", long, strings.Repeat("a", MaxBytes-1)},
		{"control characters kept, escaped by the writer", "a\nb\"c\\", "a\nb\"c\\"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Value(tc.in)
			assert.Equal(t, tc.want, got)
			assert.True(t, utf8.ValidString(got))
			assert.LessOrEqual(t, len(got), MaxBytes)
		})
	}
}

func TestValuesCopiesOnlyWhenChanged(t *testing.T) {
	in := []string{"ok", "b\xff"}
	out := Values(in)
	assert.Equal(t, []string{"ok", "b\uFFFD"}, out)
	assert.Equal(t, "b\xff", in[1], "the caller's slice is not modified")
	clean := []string{"a", "b"}
	assert.Same(t, &clean[0], &Values(clean)[0])
}

func FuzzValue(f *testing.F) {
	f.Add([]byte("web"))
	f.Add([]byte("a\xff\xfe"))
	f.Add([]byte(strings.Repeat("é", MaxBytes)))
	f.Fuzz(func(t *testing.T, b []byte) {
		v := Value(string(b))
		if !utf8.ValidString(v) || len(v) > MaxBytes {
			t.Fatalf("Value(%q) = %q: invalid or too long", b, v)
		}
		if utf8.Valid(b) && len(b) <= MaxBytes && v != string(b) {
			t.Fatalf("a valid short value changed: %q -> %q", b, v)
		}
		if Value(v) != v {
			t.Fatalf("not idempotent: %q", v)
		}
	})
}
