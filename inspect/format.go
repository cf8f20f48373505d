package inspect

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// formatBytes prints a byte count in binary units, as kubectl prints quantities: 1.5Gi, 820Mi.
func formatBytes(v float64) string {
	units := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	i := 0
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + units[i]
}

// formatCount prints an inode count in decimal units: 1.2M, 640k.
func formatCount(v float64) string {
	units := []string{"", "k", "M", "G", "T"}
	i := 0
	for math.Abs(v) >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + units[i]
}

func formatRatio(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + "%" }

func formatAmount(v float64, inodes bool) string {
	if inodes {
		return formatCount(v)
	}
	return formatBytes(v)
}

func formatRate(perSecond float64, inodes bool) string {
	sign := "+"
	if perSecond < 0 {
		sign = "-"
	}
	return sign + formatAmount(math.Abs(perSecond), inodes) + "/s"
}

// formatETA prints a time to limit rounded to what a person acts on: 45s, 12m, 3h20m, 4d.
func formatETA(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	switch {
	case seconds <= 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
