package inspect

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// Breakdown is what `du POD` prints: where one pod's ephemeral storage is, as the kubelet counts
// it. Unknown numbers are nil, never 0.
type Breakdown struct {
	Node      string `json:"node"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	// Total is the pod's usage as the summary reports it (containers' writable layers and logs,
	// disk-backed emptyDirs, configMaps and the like), checked against Limit.
	Total *float64 `json:"total"`
	Limit *float64 `json:"limit,omitempty"`
	Ratio *float64 `json:"ratio,omitempty"`
	// ImageFsDedicated: writable layers are on the image filesystem and not counted against
	// container limits.
	ImageFsDedicated bool             `json:"imageFsDedicated"`
	Volumes          []VolumeUsage    `json:"volumes"`
	Containers       []ContainerUsage `json:"containers"`
}

// VolumeUsage is one volume of the pod.
type VolumeUsage struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Medium    string   `json:"medium,omitempty"`
	Used      *float64 `json:"used"`
	SizeLimit *float64 `json:"sizeLimit,omitempty"`
	Ratio     *float64 `json:"ratio,omitempty"`
}

// ContainerUsage is one running container of the pod.
type ContainerUsage struct {
	Name          string   `json:"name"`
	Type          string   `json:"type,omitempty"`
	WritableLayer *float64 `json:"writableLayer"`
	Logs          *float64 `json:"logs"`
	// Counted is what containerEphemeralStorageLimitEviction checks against Limit.
	Counted *float64 `json:"counted"`
	Limit   *float64 `json:"limit,omitempty"`
	Ratio   *float64 `json:"ratio,omitempty"`
}

func ptr(o model.Opt) *float64 {
	if !o.OK {
		return nil
	}
	v := o.Value
	return &v
}

// NewBreakdown reads a pod's entry of a snapshot.
func NewBreakdown(snap *model.Snapshot, p *model.Pod) *Breakdown {
	b := &Breakdown{
		Node: snap.NodeName, Namespace: p.Namespace, Pod: p.Name,
		Total: ptr(p.Usage), Limit: ptr(p.Limit), Ratio: ptr(p.Ratio),
		ImageFsDedicated: snap.Node.ImageFsDedicated,
		Volumes:          make([]VolumeUsage, 0, len(p.Volumes)),
		Containers:       make([]ContainerUsage, 0, len(p.Containers)),
	}
	for i := range p.Volumes {
		v := &p.Volumes[i]
		b.Volumes = append(b.Volumes, VolumeUsage{Name: v.Name, Type: v.Type, Medium: v.Medium, Used: ptr(v.Used), SizeLimit: ptr(v.SizeLimit), Ratio: ptr(v.Ratio)})
	}
	for i := range p.Containers {
		c := &p.Containers[i]
		b.Containers = append(b.Containers, ContainerUsage{Name: c.Name, Type: c.Type, WritableLayer: ptr(c.Rootfs), Logs: ptr(c.Logs), Counted: ptr(c.Usage), Limit: ptr(c.Limit), Ratio: ptr(c.Ratio)})
	}
	return b
}

// WriteBreakdown prints a breakdown as tables, or as one json or yaml document.
func WriteBreakdown(w io.Writer, b *Breakdown, output string) error {
	switch output {
	case OutputJSON, OutputYAML:
		return writeDocument(w, b, output)
	}
	wide := output == OutputWide
	fmt.Fprintf(w, "Pod %s/%s on node %s\n", printable(b.Namespace), printable(b.Pod), printable(b.Node))
	fmt.Fprintf(w, "Total %s", bytesOrDash(b.Total))
	if b.Limit != nil {
		fmt.Fprintf(w, " of pod limit %s (%s): evicted when pod total > pod limit", bytesOrDash(b.Limit), ratioOrDash(b.Ratio))
	} else {
		fmt.Fprint(w, ", no pod limit (no container sets an ephemeral-storage limit)")
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w)
	if len(b.Volumes) == 0 {
		fmt.Fprintln(w, "No volume with stats.")
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if len(b.Volumes) > 0 {
		fmt.Fprintln(tw, "VOLUME\tTYPE\tMEDIUM\tUSED\tSIZE LIMIT\tRATIO")
	}
	for _, v := range b.Volumes {
		if !wide && v.Type != model.VolumeEmptyDir && (v.Used == nil || *v.Used == 0) {
			continue // -o wide lists the empty configMaps, secrets and projected tokens too
		}
		writeCells(tw, []string{v.Name, v.Type, dash(v.Medium), bytesOrDash(v.Used), bytesOrDash(v.SizeLimit), ratioOrDash(v.Ratio)})
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	layer := "WRITABLE LAYER"
	if b.ImageFsDedicated {
		layer = "WRITABLE LAYER (imagefs, not counted)"
	}
	fmt.Fprintf(tw, "CONTAINER\tTYPE\t%s\tLOGS\tCOUNTED\tLIMIT\tRATIO\n", layer)
	for _, c := range b.Containers {
		writeCells(tw, []string{c.Name, dash(c.Type), bytesOrDash(c.WritableLayer), bytesOrDash(c.Logs), bytesOrDash(c.Counted), bytesOrDash(c.Limit), ratioOrDash(c.Ratio)})
	}
	return tw.Flush()
}

func bytesOrDash(v *float64) string {
	if v == nil {
		return "-"
	}
	return formatBytes(*v)
}

func ratioOrDash(v *float64) string {
	if v == nil {
		return "-"
	}
	return formatRatio(*v)
}
