package accounting

import (
	"strconv"
	"strings"
)

// Version is a kubelet's major.minor, from the node's status.nodeInfo.kubeletVersion
// ("v1.34.2", "v1.30.4-eks-a737599"). The zero Version is unknown: rules then follow the newest
// kubelet this exporter knows.
type Version struct{ Major, Minor int }

// ParseVersion reads a kubeletVersion; anything unreadable is the unknown Version.
func ParseVersion(s string) Version {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	major, rest, ok := strings.Cut(s, ".")
	if !ok {
		return Version{}
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		rest = rest[:end]
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(rest)
	if err1 != nil || err2 != nil || ma <= 0 || mi < 0 || ma > 99 || mi > 999 {
		return Version{}
	}
	return Version{Major: ma, Minor: mi}
}

// Known reports whether the version was read.
func (v Version) Known() bool { return v.Major > 0 }

// AtLeast reports whether the kubelet is major.minor or newer; an unknown version is the newest.
func (v Version) AtLeast(major, minor int) bool {
	if !v.Known() {
		return true
	}
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}
