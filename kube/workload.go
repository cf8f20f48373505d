// Package kube holds the agent's node-scoped view of the API server: the pods bound to its node
// and the node object, watched through informers, plus small helpers on pod specs shared by the
// collectors and the eviction detector.
package kube

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MirrorPodAnnotation carries, on a static pod's mirror object, the UID the kubelet knows the pod
// by; the summary API reports static pods under that UID.
const MirrorPodAnnotation = "kubernetes.io/config.mirror"

// Workload names the object that owns a pod, the way an SRE names it: a ReplicaSet created by a
// Deployment resolves to the Deployment (without reading ReplicaSets: the Deployment controller
// names them "<deployment>-<pod-template-hash>"), a Job created by a CronJob resolves to the
// CronJob (see cronJobOf), a static pod to its Node, and an orphan to itself.
func Workload(pod *corev1.Pod) (kind, name string) {
	if _, ok := pod.Annotations[MirrorPodAnnotation]; ok {
		return "Node", pod.Spec.NodeName
	}
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return "Pod", pod.Name
	}
	if owner.Kind == "ReplicaSet" {
		if hash := pod.Labels["pod-template-hash"]; hash != "" {
			if deployment, ok := strings.CutSuffix(owner.Name, "-"+hash); ok && deployment != "" {
				return "Deployment", deployment
			}
		}
	}
	if owner.Kind == "Job" {
		if cronJob, ok := cronJobOf(owner.Name); ok {
			return "CronJob", cronJob
		}
	}
	return owner.Kind, owner.Name
}

// Scheduled times, in minutes since the epoch, that a CronJob's Job name may carry: 2015-01-01
// (before CronJobs existed) to 2100-01-01. Bounding them keeps hand-made Jobs such as "migrate-2"
// or "load-20240101" (a date, 8 digits but in the year 1990 as minutes) what they are.
const (
	minCronJobMinute = 1420070400 / 60
	maxCronJobMinute = 4102444800 / 60
)

// cronJobOf returns the CronJob that created the Job named jobName. The agent does not watch Jobs
// (a pod's owner reference names only the Job), so the CronJob is read from the name the CronJob
// controller gives its Jobs: "<cronjob>-<scheduled time in minutes since the epoch>"
// (k8s.io/kubernetes pkg/controller/cronjob/cronjob_controllerv2.go getJobName, utils.go
// getTimeHashInMinutes). A Job created by hand with such a name also resolves to a CronJob.
func cronJobOf(jobName string) (string, bool) {
	i := strings.LastIndexByte(jobName, '-')
	if i <= 0 {
		return "", false
	}
	digits := jobName[i+1:]
	if digits == "" || digits[0] == '0' {
		return "", false
	}
	minute, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || minute < minCronJobMinute || minute >= maxCronJobMinute {
		return "", false
	}
	return jobName[:i], true
}
