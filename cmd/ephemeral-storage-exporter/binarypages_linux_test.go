package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadOnlyMappings(t *testing.T) {
	const exe = "/usr/bin/ephemeral-storage-exporter"
	maps := []byte(`00400000-00e21000 r-xp 00000000 fd:00 123 /usr/bin/ephemeral-storage-exporter
00e21000-01938000 r--p 00a21000 fd:00 123 /usr/bin/ephemeral-storage-exporter
01938000-019cb000 rw-p 01538000 fd:00 123 /usr/bin/ephemeral-storage-exporter
019cb000-03a12000 rw-p 00000000 00:00 0
7f3e5e807000-7f3e5e8bd000 r--p 00000000 fd:00 456 /usr/bin/ephemeral-storage-exporter-old
7ffd1000-7ffd2000 r-xp 00000000 00:00 0 [vdso]
zz-00 r--p 00000000 fd:00 123 /usr/bin/ephemeral-storage-exporter
01000000-00f00000 r--p 00000000 fd:00 123 /usr/bin/ephemeral-storage-exporter
`)
	assert.Equal(t, []mapping{{0x400000, 0xe21000}, {0xe21000, 0x1938000}}, readOnlyMappings(maps, exe),
		"the binary's code and read-only data; not its writable data, other files, anonymous memory or malformed lines")
}

// On the test binary itself: its read-only mappings are found and advised, and it keeps running.
func TestReleaseBinaryPages(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		t.Skip("needs /proc")
	}
	advised, err := releaseBinaryPages()
	require.NoError(t, err)
	assert.Greater(t, advised, int64(1<<20), "the test binary's code is mapped read-only")
}
