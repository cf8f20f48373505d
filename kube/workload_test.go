package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWorkload(t *testing.T) {
	controller := true
	owned := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &controller}}
	}
	tests := []struct {
		name     string
		pod      corev1.Pod
		wantKind string
		wantName string
	}{
		{"deployment via replicaset hash", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-7788bdb6df-fqlfk",
			Labels: map[string]string{"pod-template-hash": "7788bdb6df"}, OwnerReferences: owned("ReplicaSet", "web-7788bdb6df")}},
			"Deployment", "web"},
		{"bare replicaset keeps its kind", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rs-abcde",
			OwnerReferences: owned("ReplicaSet", "rs")}}, "ReplicaSet", "rs"},
		{"hash not a suffix of the replicaset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x",
			Labels: map[string]string{"pod-template-hash": "zzz"}, OwnerReferences: owned("ReplicaSet", "web-abc")}},
			"ReplicaSet", "web-abc"},
		{"statefulset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", OwnerReferences: owned("StatefulSet", "db")}},
			"StatefulSet", "db"},
		{"static pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "etcd-n1",
			Annotations: map[string]string{MirrorPodAnnotation: "abc"}, OwnerReferences: owned("Node", "n1")},
			Spec: corev1.PodSpec{NodeName: "n1"}}, "Node", "n1"},
		// 29412345 minutes since the epoch: 2025-12-02, the CronJob controller's Job name suffix.
		{"job of a cronjob", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "backup-29412345-x7k2p",
			OwnerReferences: owned("Job", "backup-29412345")}}, "CronJob", "backup"},
		{"cronjob name with dashes", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-backup-nightly-29412345-abcde",
			OwnerReferences: owned("Job", "db-backup-nightly-29412345")}}, "CronJob", "db-backup-nightly"},
		{"hand-made job with a small number", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "migrate-2-abcde",
			OwnerReferences: owned("Job", "migrate-2")}}, "Job", "migrate-2"},
		{"hand-made job with a date", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "load-20240101-abcde",
			OwnerReferences: owned("Job", "load-20240101")}}, "Job", "load-20240101"},
		{"job suffix with a leading zero", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x",
			OwnerReferences: owned("Job", "report-029412345")}}, "Job", "report-029412345"},
		{"job suffix past 2100", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x",
			OwnerReferences: owned("Job", "report-99999999")}}, "Job", "report-99999999"},
		{"job name that is only digits", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x",
			OwnerReferences: owned("Job", "29412345")}}, "Job", "29412345"},
		{"orphan", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug"}}, "Pod", "debug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, name := Workload(&tt.pod)
			assert.Equal(t, tt.wantKind, kind)
			assert.Equal(t, tt.wantName, name)
		})
	}
}
