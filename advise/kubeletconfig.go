package advise

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Bounds on log rotation values read from a kubelet config (untrusted input). The kubelet
// rejects containerLogMaxFiles <= 1 (pkg/kubelet/apis/config/validation ValidateKubeletConfiguration).
const (
	maxLogMaxSize  = 1 << 40
	maxLogMaxFiles = 1000
)

// ParseLogRotation reads containerLogMaxSize and containerLogMaxFiles from a kubelet config: a
// KubeletConfiguration file (YAML or JSON) or the kubelet's /configz answer
// ({"kubeletconfig": {...}}). A field the config leaves out takes the kubelet's default, as the
// kubelet does; name says in the report where the values come from.
func ParseLogRotation(raw []byte, name string) (LogRotation, error) {
	type fields struct {
		ContainerLogMaxSize  *string `json:"containerLogMaxSize"`
		ContainerLogMaxFiles *int64  `json:"containerLogMaxFiles"`
	}
	var doc struct {
		fields
		Configz *fields `json:"kubeletconfig"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return LogRotation{}, fmt.Errorf("kubelet config %s: %w", name, err)
	}
	f := doc.fields
	if doc.Configz != nil {
		f = *doc.Configz
	}
	l := DefaultLogRotation()
	l.Source = "kubelet config " + name
	defaulted := false
	if f.ContainerLogMaxSize != nil {
		q, err := resource.ParseQuantity(*f.ContainerLogMaxSize)
		if err != nil {
			return LogRotation{}, fmt.Errorf("kubelet config %s: containerLogMaxSize %q: %w", name, *f.ContainerLogMaxSize, err)
		}
		if q.Sign() <= 0 || q.Cmp(*resource.NewQuantity(maxLogMaxSize, resource.BinarySI)) > 0 {
			return LogRotation{}, fmt.Errorf("kubelet config %s: containerLogMaxSize %s out of range (0, 1Ti]", name, q.String())
		}
		l.MaxSize = q.Value()
	} else {
		defaulted = true
	}
	if f.ContainerLogMaxFiles != nil {
		if n := *f.ContainerLogMaxFiles; n <= 1 || n > maxLogMaxFiles {
			return LogRotation{}, fmt.Errorf("kubelet config %s: containerLogMaxFiles %d out of range [2, %d]", name, n, maxLogMaxFiles)
		}
		l.MaxFiles = *f.ContainerLogMaxFiles
	} else {
		defaulted = true
	}
	if defaulted {
		l.Source += " (kubelet defaults for the fields it leaves out)"
	}
	if l.MaxSize <= 0 || l.MaxFiles <= 0 {
		return LogRotation{}, errors.New("kubelet config: no log rotation")
	}
	return l, nil
}
